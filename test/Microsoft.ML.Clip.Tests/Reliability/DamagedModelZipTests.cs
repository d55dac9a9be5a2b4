using System;
using System.IO;
using System.IO.Compression;
using System.Linq;
using System.Reflection;
using Microsoft.ML;
using Microsoft.ML.Clip.Tests.Pipeline;
using Xunit;

namespace Microsoft.ML.Clip.Tests.Reliability;

/// <summary>A damaged model zip: ML.NET wraps the loader's error; the clear message is the inner exception's.</summary>
public class DamagedModelZipTests
{
    private sealed class Row
    {
        public byte[] ImageBytes { get; set; } = [];
        public string Text { get; set; } = "";
    }

    [Trait("Category", "Fixtures")]
    [FixtureFact]
    public void TruncatedWeightsEntryFailsToLoadWithTheReasonInTheInnerException()
    {
        var trained = ClipStagesTestsAccess.Trained;
        using var temp = new TempDirectory();
        var mlContext = new MLContext(seed: 1);
        var data = mlContext.Data.LoadFromEnumerable(ColourPairs.Rows(2, seed: 3).Select(r => new Row { ImageBytes = r.ImageBytes, Text = r.Text }));
        string path = temp.File("clip.zip");
        mlContext.Model.Save(trained, data.Schema, path);

        // Cut the largest entry (the weights) to half its length, as an interrupted copy would.
        string entryName;
        using (var zip = ZipFile.Open(path, ZipArchiveMode.Update))
        {
            var weights = zip.Entries.OrderByDescending(e => e.Length).First();
            entryName = weights.FullName;
            byte[] bytes;
            using (var s = weights.Open()) { using var m = new MemoryStream(); s.CopyTo(m); bytes = m.ToArray(); }
            weights.Delete();
            using var w = zip.CreateEntry(entryName).Open();
            w.Write(bytes, 0, bytes.Length / 2);
        }

        // ML.NET calls the loader by reflection, so the loader's exception arrives wrapped in a
        // TargetInvocationException whose own message says nothing; the reason is its InnerException.
        var ex = Assert.Throws<TargetInvocationException>(() => new MLContext(seed: 1).Model.Load(path, out _));
        var reason = Assert.IsType<Microsoft.ML.Clip.Weights.SafeTensorsFormatException>(ex.InnerException);
        Assert.Contains(entryName, reason.Message);
        Assert.Contains("truncated", reason.Message);
    }
}
