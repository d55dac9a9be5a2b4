using System;
using System.Collections.Generic;
using System.Linq;
using Microsoft.ML;
using Microsoft.ML.Clip.Datasets;
using Microsoft.ML.Clip.Modeling;
using Microsoft.ML.Clip.Modeling.Losses;
using Microsoft.ML.Clip.Training;
using Microsoft.ML.Clip.Training.Objectives;
using Microsoft.ML.Clip.Training.Objectives.Flip;
using Microsoft.ML.Clip.Training.Objectives.SigLip;
using Microsoft.ML.Clip.Transforms;
using Microsoft.ML.Data;
using Xunit;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace Microsoft.ML.Clip.Tests.Objectives;

/// <summary>FLIP: per-sample random patch masking in training, none at inference, unmasked tuning, resumable masks, training and reload.</summary>
public class FlipTests(ITestOutputHelper output)
{
    private static readonly Lazy<(MLContext Context, ClipEmbeddingTransformer Model, IDataView Data)> Trained =
        new(() => ObjectiveShapesRun.Pretrain(new FlipObjective(new FlipOptions { MaskRatio = 0.5, Seed = 7 }), epochs: 5));

    // 32 px images, patch 8: P = 16 patches.
    private static ClipModel TinyModel() => new(new ClipConfig
    {
        EmbedDim = 8,
        Vision = new VisionConfig { ImageSize = 32, Layers = 1, Width = 16, HeadWidth = 8, PatchSize = 8 },
        Text = new TextConfig { ContextLength = 8, VocabSize = 64, Width = 16, Heads = 2, Layers = 1 },
    });

    private static TrainingBatch Batch(int n)
    {
        manual_seed(11);
        return new TrainingBatch(randn(n, 3, 32, 32), randint(1, 63, [n, 8]));
    }

    [Theory]
    [InlineData(0.5, 8)]
    [InlineData(0.75, 4)]
    [InlineData(0.6, 6)] // round(0.4 · 16) = round(6.4)
    public void TrainingKeepsExactlyRoundedShareOfPatchesPerSampleWithDistinctSubsets(double ratio, int kept)
    {
        using var model = TinyModel();
        using var objective = new FlipObjective(new FlipOptions { MaskRatio = ratio });
        objective.Initialize(model, model.Device);
        using var batch = Batch(8);
        model.train();
        using var scope = NewDisposeScope();
        using var features = objective.Encode(model, batch);
        var keep = objective.LastKeepIndices!;
        Assert.Equal(new long[] { 8, kept }, keep.shape);
        var rows = Enumerable.Range(0, 8).Select(i => keep[i].data<long>().ToArray()).ToList();
        Assert.All(rows, r => { Assert.Equal(kept, r.Distinct().Count()); Assert.All(r, p => Assert.InRange(p, 0, 15)); });
        Assert.True(rows.Select(r => string.Join(",", r.OrderBy(p => p))).Distinct().Count() > 1, "every sample got the same subset");
        // What the tower computed on: class token + the kept patches (its token output has K positions), and the
        // objective's image features are exactly that forward's pooled output.
        using var tower = model.EncodeImageTokens(batch.Pixels, keep, projectTokens: false);
        Assert.Equal(kept, tower.Tokens.shape[1]);
        var expected = nn.functional.normalize(tower.Pooled.to(ScalarType.Float32), dim: -1);
        Assert.True(features["image"].allclose(expected, 1e-5, 1e-6));
        output.WriteLine($"ratio {ratio}: kept {kept}/16 per sample; first rows {string.Join(" | ", rows.Take(3).Select(r => string.Join(",", r)))}");
    }

    [Fact]
    public void InferenceIsUnmaskedAndEqualsThePlainModel()
    {
        using var model = TinyModel();
        using var objective = new FlipObjective(new FlipOptions { MaskRatio = 0.75 });
        using var batch = Batch(4);
        model.eval();
        using var scope = NewDisposeScope();
        using var features = objective.Encode(model, batch);
        Assert.Null(objective.LastKeepIndices);
        Assert.Equal(model.EncodeImage(batch.Pixels, normalize: true).data<float>().ToArray(), features["image"].data<float>().ToArray());
    }

    [Fact]
    public void FinalStepsAreUnmaskedTuning()
    {
        using var model = TinyModel();
        using var objective = new FlipObjective(new FlipOptions { MaskRatio = 0.5, TotalSteps = 3, UnmaskedTuningSteps = 1 });
        using var batch = Batch(4);
        model.train();
        using var scope = NewDisposeScope();
        var masked = new List<bool>();
        for (int step = 0; step < 3; step++)
        {
            masked.Add(objective.MaskingActive);
            using var features = objective.Encode(model, batch);
            if (!objective.MaskingActive)
                Assert.Equal(model.EncodeImage(batch.Pixels, normalize: true).data<float>().ToArray(), features["image"].data<float>().ToArray());
            objective.AfterStep(model, null);
        }
        Assert.Equal(new[] { true, true, false }, masked);
        Assert.Throws<ArgumentException>(() => new FlipOptions { UnmaskedTuningSteps = 2 }.Validate());
        Assert.Throws<ArgumentOutOfRangeException>(() => new FlipOptions { MaskRatio = 1 }.Validate());
    }

    [Fact]
    public void StateDictResumesTheSameMasks()
    {
        using var first = new FlipObjective(new FlipOptions { Seed = 3 });
        using var scope = NewDisposeScope();
        first.DrawKeepIndices(4, 16);
        first.AfterStep(null!, null);
        var state = first.StateDict().ToDictionary(p => p.Key, p => p.Value.clone());
        var next = first.DrawKeepIndices(4, 16);

        using var resumed = new FlipObjective(new FlipOptions { Seed = 99 });
        resumed.LoadStateDict(state);
        Assert.Equal(1, resumed.StepsCompleted);
        Assert.Equal(next.data<long>().ToArray(), resumed.DrawKeepIndices(4, 16).data<long>().ToArray());
    }

    [Fact]
    public void LossIsTheWrappedContrastiveLossOfTheMaskedFeatures()
    {
        using var model = TinyModel();
        using var objective = new FlipObjective(new FlipOptions { MaskRatio = 0.5 });
        using var batch = Batch(6);
        model.train();
        using var scope = NewDisposeScope();
        using var features = objective.Encode(model, batch);
        var loss = objective.Loss(model, features, trainModelLevelParameters: true).item<float>();
        // Naive CLIP loss: mean over rows and columns of −log softmax at the diagonal.
        float[] x = features["image"].data<float>().ToArray(), y = features["text"].data<float>().ToArray();
        int n = 6, d = 8;
        double t = Math.Exp(model.LogitScale.item<float>()), total = 0;
        double Dot(int i, int j) { double s = 0; for (int k = 0; k < d; k++) s += x[i * d + k] * y[j * d + k]; return s; }
        for (int i = 0; i < n; i++)
        {
            total += -(t * Dot(i, i) - Math.Log(Enumerable.Range(0, n).Sum(j => Math.Exp(t * Dot(i, j)))));
            total += -(t * Dot(i, i) - Math.Log(Enumerable.Range(0, n).Sum(j => Math.Exp(t * Dot(j, i)))));
        }
        // fp32 model against a double loop on the same fp32 features: each logit t·x·y is an 8-d fp32 dot times
        // t = exp(logit scale) ≈ 14.3, rounding ≤ 8 × 6e-8 × 14.3 ≈ 7e-6 worst case; the log-sum-exp is 1-Lipschitz
        // and the mean adds a few ulps of ~2. 2e-5 bounds it; a wrong scale or a missing direction moves it by > 0.01.
        Approx.Equal(total / (2 * n), loss, atol: 2e-5, rtol: 0, "FLIP loss against the naive loop");
    }

    [Trait("Category", "Slow")]
    [Fact]
    public void PretrainingOnShapesLowersTheLossAndRetrievesAboveChance()
    {
        var (_, model, _) = Trained.Value;
        var report = model.TrainingReport!;
        double first = report.Losses.Take(3).Average(l => l.Loss), last = report.Losses.TakeLast(3).Average(l => l.Loss);
        var validation = report.Validation[^1];
        output.WriteLine($"{report.Steps} steps in {report.Seconds:F1} s; loss {first:F3} -> {last:F3}; validation R@1 i→t {validation.ImageToTextRecallAt1:F3} " +
                         $"t→i {validation.TextToImageRecallAt1:F3}, mean R@5 {validation.MeanRecallAt5:F3}");
        Assert.True(last < 0.8 * first, $"loss {first:F3} -> {last:F3}");
        Assert.True(validation.MeanRecallAt5 > 0.3, $"validation R@5 {validation.MeanRecallAt5:F3} (chance ≈ 0.12)");
    }

    [Trait("Category", "Slow")]
    [Fact]
    public void TrainedModelReloadsInAnotherProcessWithIdenticalScores()
    {
        var (mlContext, model, _) = Trained.Value;
        ObjectiveShapesRun.AssertReloadsIdenticallyInAnotherProcess(mlContext, model, "flip");
    }
}
