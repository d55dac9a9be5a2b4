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
        long rows = 0;
        double checksum = 0;
        // Managed memory and working set after 50k, 125k and 200k rows. Allocators keep some native memory after
        // the first batches (arenas, libtorch's caches), so the test compares the two later stretches of 75k rows:
        // anything kept per row would grow both by the same amount.
        var managed = new long[3];
        var workingSet = new long[3];
        int mark = 0;
        while (cursor.MoveNext())
        {
            getter(ref value);
            checksum += value.GetValues()[0];
            if (++rows is 50_000 or 125_000 or 200_000)
            {
                managed[mark] = GC.GetTotalMemory(forceFullCollection: true);
                workingSet[mark++] = Process.GetCurrentProcess().WorkingSet64;
            }
        }
        Assert.Equal(200_000, rows);
        Assert.True(double.IsFinite(checksum));
        // 75,000 rows of 32 floats are 9.6 MB; a leak of even a few bytes a row would show over 150,000 rows.
        Assert.True(managed[2] - managed[0] < 4_000_000, $"managed memory grew by {managed[2] - managed[0]:N0} bytes from 50k to 200k rows");
        long lastStretch = workingSet[2] - workingSet[1];
        Assert.True(lastStretch < 16_000_000, $"working set grew by {lastStretch:N0} bytes from 125k to 200k rows (and {workingSet[1] - workingSet[0]:N0} from 50k to 125k)");
    }
}
