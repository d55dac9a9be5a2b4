using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Linq;
using System.Threading.Tasks;
using Microsoft.ML;
using Microsoft.ML.Clip.Tests.Pipeline;
using Microsoft.ML.Data;
using Xunit;

namespace Microsoft.ML.Clip.Tests.Reliability;

/// <summary>Scoring stages under concurrent use, and memory while streaming many rows.</summary>
public class ConcurrencyAndMemoryTests
{
    public sealed class Pair
    {
        public byte[] ImageBytes { get; set; } = [];
        public string Text { get; set; } = "";
    }

    public sealed class Scores
    {
        [VectorType(4)] public float[] Score { get; set; } = [];
        [VectorType(32)] public float[] TextEmbedding { get; set; } = [];
    }

    [FixtureFact]
    public void ManyThreadsWithTheirOwnPredictionEnginesMatchSerialScoring()
    {
        var trained = ClipStagesTestsAccess.Trained;
        var mlContext = new MLContext(seed: 1);
        var rows = ColourPairs.Rows(24, seed: 40).Select(r => new Pair { ImageBytes = r.ImageBytes, Text = r.Text }).ToList();
        var data = mlContext.Data.LoadFromEnumerable(rows);
        var classes = ColourPairs.Colours.Select(c => c.Name).ToArray();
        var model = mlContext.Transforms.ClipZeroShot(trained.Bundle, classes, imageColumnName: "ImageBytes")
            .Append(mlContext.Transforms.ClipTextEmbedding(trained.Bundle)).Fit(data);

        Scores[] serial;
        using (var engine = mlContext.Model.CreatePredictionEngine<Pair, Scores>(model))
            serial = rows.Select(r => { var s = engine.Predict(r); return new Scores { Score = s.Score.ToArray(), TextEmbedding = s.TextEmbedding.ToArray() }; }).ToArray();

        Parallel.For(0, 8, new ParallelOptions { MaxDegreeOfParallelism = 8 }, worker =>
        {
            using var engine = mlContext.Model.CreatePredictionEngine<Pair, Scores>(model);
            for (int round = 0; round < 2; round++)
                for (int i = (worker * 5) % rows.Count, n = 0; n < rows.Count; n++, i = (i + 1) % rows.Count)
                {
                    var s = engine.Predict(rows[i]);
                    Assert.Equal(serial[i].Score, s.Score);
                    Assert.Equal(serial[i].TextEmbedding, s.TextEmbedding);
                }
        });

        // Several cursors over the same transformed view, read at the same time, agree with one another.
        var transformed = model.Transform(data);
        var columns = Enumerable.Range(0, 4).AsParallel().Select(_ => transformed.GetColumn<float[]>("Score").ToArray()).ToList();
        foreach (var c in columns.Skip(1))
            for (int i = 0; i < c.Length; i++) Assert.Equal(columns[0][i], c[i]);
        for (int i = 0; i < rows.Count; i++)
            for (int k = 0; k < 4; k++) Assert.Equal(serial[i].Score[k], columns[0][i][k], 1e-5f);
    }

    [FixtureFact]
    public void Scoring200kRowsKeepsMemoryFlat()
    {
        var trained = ClipStagesTestsAccess.Trained;
        var mlContext = new MLContext(seed: 1);
        static IEnumerable<Pair> Captions(int count)
        {
            string[] colours = ["red", "green", "blue", "yellow"];
            for (int i = 0; i < count; i++) yield return new Pair { Text = $"a {colours[i % 4]} picture number {i}" };
        }
        var data = mlContext.Data.LoadFromEnumerable(Captions(200_000));
        var scored = mlContext.Transforms.ClipTextEmbedding(trained.Bundle).Fit(data).Transform(data);

        using var cursor = scored.GetRowCursor([scored.Schema["TextEmbedding"]]);
        var getter = cursor.GetGetter<VBuffer<float>>(scored.Schema["TextEmbedding"]);
        VBuffer<float> value = default;
        long rows = 0, managedAt20k = 0, workingSetAt20k = 0;
        double checksum = 0;
        while (cursor.MoveNext())
        {
            getter(ref value);
            checksum += value.GetValues()[0];
            if (++rows == 20_000)
            {
                managedAt20k = GC.GetTotalMemory(forceFullCollection: true);
                workingSetAt20k = Process.GetCurrentProcess().WorkingSet64;
            }
        }
        long managedGrowth = GC.GetTotalMemory(forceFullCollection: true) - managedAt20k;
        long workingSetGrowth = Process.GetCurrentProcess().WorkingSet64 - workingSetAt20k;
        Assert.Equal(200_000, rows);
        Assert.True(double.IsFinite(checksum));
        // 180,000 more rows of 32 floats would be 23 MB if anything kept them; allow noise well below that.
        Assert.True(managedGrowth < 8_000_000, $"managed memory grew by {managedGrowth:N0} bytes over 180,000 rows");
        Assert.True(workingSetGrowth < 64_000_000, $"working set grew by {workingSetGrowth:N0} bytes over 180,000 rows");
    }
}
