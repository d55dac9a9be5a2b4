using System;
using System.Collections.Generic;
using System.Linq;
using Microsoft.ML.Clip.Modeling;
using Microsoft.ML.Clip.Training;
using Microsoft.ML.Clip.Training.Objectives;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace Microsoft.ML.Clip.Tests.Training;

public class ClipTrainerTests
{
    private static readonly ClipConfig Config = new()
    {
        EmbedDim = 32,
        Vision = new VisionConfig { ImageSize = 16, Layers = 2, Width = 32, HeadWidth = 16, PatchSize = 8 },
        Text = new TextConfig { ContextLength = 8, VocabSize = 100, Width = 32, Heads = 2, Layers = 2 },
    };

    private static ClipModel NewModel(int seed)
    {
        manual_seed(seed);
        return new ClipModel(Config);
    }

    private static TrainingBatch RandomBatch(int size, int seed)
    {
        var generator = new Generator((ulong)seed);
        var pixels = randn(new long[] { size, 3, 16, 16 }, generator: generator);
        var tokens = randint(1, 98, new long[] { size, 8 }, generator: generator);
        tokens[TensorIndex.Colon, 7] = 99; // end-of-text = largest id
        return new TrainingBatch(pixels, tokens);
    }

    [Fact]
    public void LossFallsOnAFixedBatch()
    {
        using var model = NewModel(1);
        using var trainer = new ClipTrainer(model, new ContrastiveObjective(), new ClipTrainerOptions { LearningRate = 1e-3, WarmupSteps = 1 }, totalSteps: 30);
        using var batch = RandomBatch(8, 2);
        var results = Enumerable.Range(0, 30).Select(_ => trainer.Step(batch)).ToList();
        Assert.True(results[^1].Loss < 0.5 * results[0].Loss, $"loss {results[0].Loss} -> {results[^1].Loss}");
        Assert.Equal(30, trainer.StepCount);
        Assert.All(results, r => Assert.False(r.Skipped));
    }

    [Fact]
    public void AccumulationGivesTheFullBatchGradient()
    {
        // Same initial weights, same batch: micro-batches of 3 (cached negatives) vs one pass of 8.
        using var full = NewModel(5);
        using var accumulated = full.Copy();
        var options = new ClipTrainerOptions { LearningRate = 1e-3, WarmupSteps = 0, GradientClipNorm = null };
        using var t1 = new ClipTrainer(full, new ContrastiveObjective(), options, 10);
        using var t2 = new ClipTrainer(accumulated, new ContrastiveObjective(), options with { MicroBatchSize = 3 }, 10);
        using var batch = RandomBatch(8, 3);
        var (l1, g1) = t1.LossAndGradients(batch);
        var (l2, g2) = t2.LossAndGradients(batch);
        // One pass of 8 against micro-batches of 3, 3 and 2: other GEMM shapes and summation orders in both towers,
        // so the embeddings differ by ~1e-7 relative; times the logit scale (14.3) and through the log-sum-exp
        // (1-Lipschitz), the loss (~2) moves by at most a few 1e-6. 2e-5 bounds that; leaving the cached negatives
        // out (3 candidates instead of 8) changes the loss by ~log(8/3) ≈ 1.
        Approx.Equal(l1, l2, atol: 2e-5, rtol: 0, "accumulated vs whole-batch loss");
        Assert.Equal(g1.Keys.Order(), g2.Keys.Order());
        foreach (var (name, a) in g1)
        {
            // Gradients summed over micro-batches against one backward pass: each weight gradient is a sum over the
            // batch whose terms cancel, so its rounding is relative to the tensor's largest entry (1e-5 of it: ~√K·eps
            // for K ≤ 128-wide reductions, with margin) plus 1e-3 of the entry; a micro-batch that lost its cached
            // negatives, or a gradient not divided by the number of micro-batches, misses by tens of percent.
            double scale = a.abs().max().item<float>();
            Assert.True(a.allclose(g2[name], rtol: 1e-3, atol: 1e-5 * scale + 1e-9), $"gradient of {name} differs");
        }
        // The temperature's gradient is counted once, not once per micro-batch.
        // Its gradient is a sum over all 64 logits of (p − y)·logit with cancellation, so its relative rounding is
        // larger than fp32's eps: the 1e-3 of the other gradients above; counting it per micro-batch would triple it.
        Approx.Equal(g1["logit_scale"].item<float>(), g2["logit_scale"].item<float>(), atol: 1e-7, rtol: 1e-3, "logit_scale gradient");
    }

    [Fact]
    public void LogitScaleIsClampedAndExcludedFromDecay()
    {
        using var model = NewModel(1);
        using (no_grad()) model.LogitScale.fill_(10.0);
        using var trainer = new ClipTrainer(model, new ContrastiveObjective(), new ClipTrainerOptions(), 5);
        using var batch = RandomBatch(4, 1);
        var result = trainer.Step(batch);
        Assert.Equal(Math.Log(100), model.LogitScale.item<float>(), 5);
        Assert.Equal(100, result.Temperature, 3);
        var decay = trainer.Optimizer.Parameters.ToDictionary(p => p.Name, p => p.WeightDecay);
        Assert.Equal(0, decay["logit_scale"]);
        Assert.Equal(0, decay["token_embedding.weight"]);
        Assert.Equal(0, decay["positional_embedding"]);
        Assert.Equal(0, decay["visual.class_embedding"]);
        Assert.Equal(0, decay["ln_final.weight"]);
        Assert.Equal(0, decay["transformer.resblocks.0.attn.in_proj_bias"]);
        Assert.Equal(0.2, decay["transformer.resblocks.0.attn.in_proj_weight"]);
        Assert.Equal(0.2, decay["text_projection"]);
    }

    [Fact]
    public void NonFiniteLossStopsWithoutTouchingWeights()
    {
        using var model = NewModel(1);
        using var trainer = new ClipTrainer(model, new ContrastiveObjective(), new ClipTrainerOptions(), 5);
        using var batch = RandomBatch(4, 1);
        batch.Pixels[0, 0, 0, 0] = tensor(float.NaN);
        var before = model.named_parameters().ToDictionary(p => p.name, p => p.parameter.clone());
        var ex = Assert.Throws<NonFiniteTrainingException>(() => trainer.Step(batch));
        Assert.Contains("non-finite", ex.Message);
        foreach (var (name, p) in model.named_parameters())
            Assert.True(p.equal(before[name]).all().item<bool>(), $"{name} changed");

        using var skipping = new ClipTrainer(model, new ContrastiveObjective(), new ClipTrainerOptions { SkipNonFiniteSteps = true }, 5);
        Assert.True(skipping.Step(batch).Skipped);
        Assert.Equal(0, skipping.StepCount);
    }

    [Fact]
    public void MixedPrecisionTracksFloat32()
    {
        using var fp32 = NewModel(7);
        using var mixed = fp32.Copy();
        using var t1 = new ClipTrainer(fp32, new ContrastiveObjective(), new ClipTrainerOptions { LearningRate = 1e-3, WarmupSteps = 1 }, 20);
        using var t2 = new ClipTrainer(mixed, new ContrastiveObjective(), new ClipTrainerOptions { LearningRate = 1e-3, WarmupSteps = 1, Precision = TrainingPrecision.BFloat16Mixed }, 20);
        using var batch = RandomBatch(8, 4);
        var l1 = Enumerable.Range(0, 20).Select(_ => t1.Step(batch).Loss).ToList();
        var l2 = Enumerable.Range(0, 20).Select(_ => t2.Step(batch).Loss).ToList();
        Assert.Equal(ScalarType.Float32, mixed.DType); // master weights stay fp32
        Assert.True(l2[^1] < 0.6 * l2[0], $"bf16 loss {l2[0]} -> {l2[^1]}");
        for (int i = 0; i < 20; i++)
            Assert.True(Math.Abs(l1[i] - l2[i]) < 0.05 * l1[0] + 0.05, $"step {i}: fp32 {l1[i]} vs bf16 {l2[i]}");
    }

    [Fact]
    public void Bf16MixedTrainingKeepsBatchNormStatisticsInTheMaster()
    {
        // A ResNet tower's running statistics move in the bf16 working copy's forward pass; the fp32 master is what is
        // saved, so they must come back to it (before, the master kept its initial zeros and ones).
        var config = Config with { Vision = new VisionConfig { ImageSize = 32, ResNetLayers = [1, 1, 1, 1], Width = 16, HeadWidth = 16 } };
        manual_seed(3);
        using var model = new ClipModel(config);
        var (name, mean) = model.named_buffers().First(b => b.name.EndsWith("running_mean", StringComparison.Ordinal));
        Assert.Equal(0, mean.abs().max().item<float>());
        using var trainer = new ClipTrainer(model, new ContrastiveObjective(), new ClipTrainerOptions { Precision = TrainingPrecision.BFloat16Mixed }, 10);
        var generator = new Generator(4);
        using var pixels = randn(new long[] { 4, 3, 32, 32 }, generator: generator);
        using var tokens = randint(1, 98, new long[] { 4, 8 }, generator: generator);
        tokens[TensorIndex.Colon, 7] = 99;
        using var batch = new TrainingBatch(pixels, tokens);
        trainer.Step(batch);
        // One step with momentum 0.1 moves the mean to 0.1 × the batch mean of the stem's outputs (order 0.01–1).
        Assert.True(mean.abs().max().item<float>() > 1e-4, $"{name} stayed at its initial value in the master");
        Assert.Equal(1, model.named_buffers().First(b => b.name.EndsWith("num_batches_tracked", StringComparison.Ordinal)).buffer.item<long>());
    }
}

public class OptimizerTests
{
    [Fact]
    public void AdamWStepMatchesHandComputation()
    {
        var w = new TorchSharp.Modules.Parameter(tensor(new float[] { 1f, -2f, 0.5f, 3f }, new long[] { 2, 2 }));
        var b = new TorchSharp.Modules.Parameter(tensor(new float[] { 0.1f, 0.2f }));
        w.grad = tensor(new float[] { 0.5f, -1f, 2f, 0f }, new long[] { 2, 2 });
        b.grad = tensor(new float[] { 1f, -1f });
        var optimizer = new AdamW([new("w", w, 0.1), new("b", b, 0)], beta1: 0.9, beta2: 0.999, epsilon: 1e-8);
        optimizer.Step(0.01);
        // Step 1: m̂ = g, v̂ = g², update = g/(|g|+ε) = sign(g); decay: w ← w(1 − lr·wd) first.
        float[] expectedW = { 1f * 0.999f - 0.01f, -2f * 0.999f + 0.01f, 0.5f * 0.999f - 0.01f, 3f * 0.999f };
        float[] expectedB = { 0.1f - 0.01f, 0.2f + 0.01f };
        Assert.Equal(expectedW, w.data<float>().ToArray(), new FloatComparer(1e-6f));
        Assert.Equal(expectedB, b.data<float>().ToArray(), new FloatComparer(1e-6f));

        // Step 2 with the same gradient, by hand: m = 0.19·g·..., exercising bias correction.
        optimizer.Step(0.01);
        double m = (0.9 * 0.1 + 0.1) * 1.0, v = (0.999 * 0.001 + 0.001) * 1.0;   // for g = 1 (b[0])
        double mHat = m / (1 - 0.81), vHat = v / (1 - 0.999 * 0.999);
        // A handful of fp32 operations on values ≤ 1 (half-ulp of 0.08 is 3.7e-9): 1e-6, as for step 1 above; a
        // missing or doubled bias correction moves b by ~1e-3.
        Approx.Equal(0.09 - 0.01 * mHat / (Math.Sqrt(vHat) + 1e-8), b.data<float>()[0], atol: 1e-6, rtol: 0, "b[0] after step 2");

        var state = optimizer.StateDict();
        var restored = new AdamW([new("w", w, 0.1), new("b", b, 0)]);
        restored.LoadStateDict(state);
        Assert.Equal(2, restored.StepCount);
    }

    [Fact]
    public void ScheduleWarmsUpThenDecaysToZero()
    {
        var schedule = new LearningRateSchedule(1.0, WarmupSteps: 10, TotalSteps: 110);
        Assert.Equal(0.1, schedule.At(0), 10);
        Assert.Equal(1.0, schedule.At(9), 10);
        Assert.Equal(1.0, schedule.At(10), 10);
        Assert.Equal(0.5, schedule.At(60), 10);
        Assert.Equal(0.0, schedule.At(110), 10);
    }

    private sealed class FloatComparer(float tolerance) : IEqualityComparer<float>
    {
        public bool Equals(float x, float y) => Math.Abs(x - y) <= tolerance;
        public int GetHashCode(float obj) => 0;
    }
}
