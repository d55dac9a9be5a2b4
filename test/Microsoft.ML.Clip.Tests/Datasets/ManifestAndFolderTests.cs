using System;
using System.IO;
using System.Linq;
using Microsoft.ML.Clip.Datasets;
using Microsoft.ML.Runtime;
using Xunit;

namespace Microsoft.ML.Clip.Tests.Datasets;

public class ManifestAndFolderTests
{
    [Fact]
    public void CsvManifestReadsQuotedCaptionsAndRelativePathsAndTheBytesAsStored()
    {
        using var dir = new TempDirectory();
        Directory.CreateDirectory(dir.File("img"));
        File.WriteAllBytes(dir.File("img/a.png"), DatasetTestData.Png(1));
        File.WriteAllBytes(dir.File("img/b.png"), DatasetTestData.Png(2));
        File.WriteAllText(dir.File("m.csv"), "id,Path,caption\n1,img/a.png,\"a red circle, small\"\n\n2,img/b.png,\"say \"\"hi\"\"\nsecond line\"\n");

        var view = new MLContext().Data.LoadFromImageManifest(dir.File("m.csv"));
        DatasetTestData.AssertImageBytesColumn(view);
        var rows = DatasetTestData.ReadAll(view);

        Assert.Equal(["a red circle, small", "say \"hi\"\nsecond line"], rows.Select(r => r.Caption));
        Assert.Equal(DatasetTestData.Png(1), rows[0].Image);
        Assert.Equal(DatasetTestData.Png(2), rows[1].Image);
        Assert.Equal(Path.GetFullPath(dir.File("img/b.png")), rows[1].Extra[ClipDatasetColumns.Path]);
    }

    [Fact]
    public void MissingImageFailsNamingManifestAndRowOrIsSkippedAndCounted()
    {
        using var dir = new TempDirectory();
        File.WriteAllBytes(dir.File("a.png"), DatasetTestData.Png(1));
        File.WriteAllText(dir.File("c.txt"), "not an image");
        File.WriteAllText(dir.File("m.tsv"), "a.png\tfirst\nmissing.png\tsecond\nc.txt\tthird\ntoo-few-fields\na.png\tfifth\n");
        var options = new ImageManifestOptions { HasHeader = false, PathColumn = "0", CaptionColumn = "1" };
        var ml = new MLContext();

        var strict = ml.Data.LoadFromImageManifest(dir.File("m.tsv"), options);
        var error = Assert.Throws<ClipDatasetException>(() => DatasetTestData.ReadAll(strict));
        Assert.Equal(Path.GetFullPath(dir.File("m.tsv")), error.FilePath);
        Assert.Contains("row 1 (line 2)", error.Message);
        Assert.Contains("missing.png", error.Message);

        // Reading only captions never opens the images: the missing file goes unnoticed, the short line does not.
        var captionsOnly = DatasetTestData.Read(ml.Data.LoadFromImageManifest(dir.File("m.tsv"),
            new ImageManifestOptions { HasHeader = false, PathColumn = "0", CaptionColumn = "1", SkipBadRecords = true }),
            [strict.Schema[ClipDatasetColumns.Caption]]);
        Assert.Equal(["first", "second", "third", "fifth"], captionsOnly.Select(r => r.Caption));

        var warnings = new System.Collections.Generic.List<string>();
        var logging = new MLContext();
        logging.Log += (_, e) => { if (e.Kind == ChannelMessageKind.Warning) lock (warnings) warnings.Add(e.Message); };
        options.SkipBadRecords = true;
        var skipping = logging.Data.LoadFromImageManifest(dir.File("m.tsv"), options);
        var rows = DatasetTestData.ReadAll(skipping);
        Assert.Equal(["first", "fifth"], rows.Select(r => r.Caption));
        Assert.Equal(3, skipping.SkippedRecords);
        Assert.Contains("row 2 (line 3)", skipping.RecentSkips[1].Record);
        Assert.Contains("not a JPEG, PNG", skipping.RecentSkips[1].Problem);
        Assert.Contains("row 3 (line 4)", skipping.RecentSkips[2].Record);
        Assert.Equal(3, warnings.Count(w => w.Contains("m.tsv")));
    }

    [Fact]
    public void MissingHeaderColumnIsReportedWithTheColumnsThereAre()
    {
        using var dir = new TempDirectory();
        File.WriteAllText(dir.File("m.csv"), "file,text\na.png,x\n");
        var error = Assert.Throws<ClipDatasetException>(() => new MLContext().Data.LoadFromImageManifest(dir.File("m.csv")));
        Assert.Contains("no column 'path'", error.Message);
        Assert.Contains("file, text", error.Message);
        var view = new MLContext().Data.LoadFromImageManifest(dir.File("m.csv"),
            new ImageManifestOptions { PathColumn = "file", CaptionColumn = "text", SkipBadRecords = true });
        Assert.Empty(DatasetTestData.ReadAll(view));
        Assert.Equal(1, view.SkippedRecords);
    }

    [Fact]
    public void FolderPerClassMakesCaptionsFromTheTemplateAndShufflesAPermutation()
    {
        using var dir = new TempDirectory();
        foreach (var (label, count) in new[] { ("golden_retriever", 3), ("tabby-cat", 2) })
        {
            Directory.CreateDirectory(dir.File(label));
            for (int i = 0; i < count; i++)
                File.WriteAllBytes(dir.File($"{label}/{i}.png"), DatasetTestData.Png(i + label.Length));
            File.WriteAllText(dir.File($"{label}/notes.txt"), "ignored");
        }
        var view = new MLContext().Data.LoadFromImageFolder(dir.Path, new ImageFolderOptions { CaptionTemplate = "a photo of a {}." });
        Assert.Equal(5, view.GetRowCount());
        var rows = DatasetTestData.ReadAll(view);
        Assert.Equal(["golden_retriever", "golden_retriever", "golden_retriever", "tabby-cat", "tabby-cat"], rows.Select(r => r.Extra[ClipDatasetColumns.Label]));
        Assert.Equal("a photo of a golden retriever.", rows[0].Caption);
        Assert.Equal("a photo of a tabby cat.", rows[4].Caption);
        Assert.Equal(DatasetTestData.Png(16), rows[0].Image);

        var shuffled = DatasetTestData.ReadAll(view, new Random(3));
        Assert.Equal(rows.Select(r => r.Extra[ClipDatasetColumns.Path]).Order(), shuffled.Select(r => r.Extra[ClipDatasetColumns.Path]).Order());
        var again = DatasetTestData.ReadAll(view, new Random(3));
        Assert.Equal(shuffled.Select(r => r.Extra[ClipDatasetColumns.Path]), again.Select(r => r.Extra[ClipDatasetColumns.Path]));
    }
}
