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

    [Trait("Category", "Fixtures")]
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

        // Concurrent and serial scoring run the same model on the same row but not the same reduction order: libtorch's
        // GEMMs (MKL, oneDNN) split a product over the threads free when the call starts (MKL_DYNAMIC), so eight
        // engines at once may partition a sum differently from one alone. Measured here: probabilities differ by up
        // to 2e-6 relative, i.e. 2e-6 in the logits (d log p = d logit for the smaller classes). Scores are softmax
        // probabilities from 3e-11 to 1, so they are compared relatively: |Δp| ≤ 1e-4·p bounds the logit difference
        // by 1e-4 (the logit scale × a cosine difference of ~1e-6: fp32 rounding of 32-d unit vectors, see
        // ScoreRounding). Rows mixed up between threads, or state shared between engines, change them by factors.
        Parallel.For(0, 8, new ParallelOptions { MaxDegreeOfParallelism = 8 }, worker =>
        {
            using var engine = mlContext.Model.CreatePredictionEngine<Pair, Scores>(model);
            for (int round = 0; round < 2; round++)
                for (int i = (worker * 5) % rows.Count, n = 0; n < rows.Count; n++, i = (i + 1) % rows.Count)
                {
                    var s = engine.Predict(rows[i]);
                    Approx.Equal(serial[i].Score, s.Score, 0, ScoreRounding, $"row {i}: concurrent vs serial scores");
                    Approx.Equal(serial[i].TextEmbedding, s.TextEmbedding, EmbeddingRounding, 0, $"row {i}: concurrent vs serial text embedding");
                }
        });
        // The rows really differ, so the comparisons above would see a row scored in another's place.
        Assert.True(Approx.MaxDiff(serial[0].Score, serial[1].Score) > 0.1 || Approx.MaxDiff(serial[0].Score, serial[2].Score) > 0.1);

        // Several cursors over the same transformed view, read at the same time, agree with one another (up to the
        // thread partition, as above), and with the serial engines (batches of 24 against batches of one: other
        // GEMM blocking, the same bound).
        var transformed = model.Transform(data);
        var columns = Enumerable.Range(0, 4).AsParallel().Select(_ => transformed.GetColumn<float[]>("Score").ToArray()).ToList();
        foreach (var c in columns.Skip(1))
            for (int i = 0; i < c.Length; i++) Approx.Equal(columns[0][i], c[i], 0, ScoreRounding, $"row {i}: concurrent cursors");
        for (int i = 0; i < rows.Count; i++)
            Approx.Equal(serial[i].Score, columns[0][i], 0, ScoreRounding, $"row {i}: batch vs single-row scores");
    }

    /// <summary>
    /// Relative tolerance of softmax scores computed two ways: 1e-4 in the logits. The logits are the logit scale
    /// (≤ 100) times cosines of 32-d unit vectors whose components carry ~1e-8 of fp32 rounding (measured; bound
    /// 1e-5, <see cref="EmbeddingRounding"/>), i.e. cosines within ~1e-7 and logits within ~1e-5; 1e-4 leaves room
    /// for other CPUs' kernels.
    /// </summary>
    private const double ScoreRounding = 1e-4;

    /// <summary>
    /// Absolute tolerance of unit-norm embedding components computed two ways: the tower's longest reductions have
    /// K = 256 (MLP) and 192 (patch embedding); fp32 rounding grows like 6e-8·√K ≈ 1e-6 relative per layer, over
    /// two layers and the projection: 1e-5. Measured: ~1e-8.
    /// </summary>
    private const double EmbeddingRounding = 1e-5;

    [Trait("Category", "Fixtures")]
    [Trait("Category", "Slow")]
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
