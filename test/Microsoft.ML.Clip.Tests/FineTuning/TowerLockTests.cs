using System;
using System.Collections.Generic;
using System.Linq;
using Microsoft.ML.Clip.Modeling;
using Microsoft.ML.Clip.Tests.Modeling;
using Microsoft.ML.Clip.Training;
using Microsoft.ML.Clip.Training.Objectives;
using Microsoft.ML.Clip.Training.Objectives.MaskClip;
using Microsoft.ML.Clip.Training.Objectives.WenLan;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace Microsoft.ML.Clip.Tests.FineTuning;

public class TowerLockTests
{
    private static readonly ClipConfig Vit = new()
    {
        EmbedDim = 32,
        Vision = new VisionConfig { ImageSize = 16, Layers = 2, Width = 32, HeadWidth = 16, PatchSize = 8 },
        Text = new TextConfig { ContextLength = 8, VocabSize = 100, Width = 32, Heads = 2, Layers = 3 },
    };

    private static readonly ClipConfig ResNet = Vit with
    {
        Vision = new VisionConfig { ImageSize = 32, ResNetLayers = [1, 1, 1, 1], Width = 16, HeadWidth = 16 },
    };

    private static ClipModel NewModel(ClipConfig config, int seed)
    {
        manual_seed(seed);
        return new ClipModel(config);
    }

    private static TrainingBatch RandomBatch(ClipConfig config, int size, int seed, long firstRowId = 0)
    {
        var generator = new Generator((ulong)seed);
        int s = config.Vision.ImageSize;
        var pixels = randn(new long[] { size, 3, s, s }, generator: generator);
        var tokens = randint(1, 98, new long[] { size, 8 }, generator: generator);
        tokens[TensorIndex.Colon, 7] = 99;
        return new TrainingBatch(pixels, tokens, Enumerable.Range(0, size).Select(i => firstRowId + i).ToArray());
    }

    private static Dictionary<string, Tensor> Snapshot(ClipModel model) =>
        model.state_dict().ToDictionary(p => p.Key, p => p.Value.detach().clone());

    private static bool Same(Tensor a, Tensor b) => a.shape.SequenceEqual(b.shape) && a.equal(b).all().item<bool>();

    private static void Train(ClipModel model, ClipObjective objective, ClipTrainerOptions options, int steps, Func<int, TrainingBatch> batch)
    {
        using var trainer = new ClipTrainer(model, objective, options, totalSteps: steps);
        for (int i = 0; i < steps; i++)
        {
            using var b = batch(i);
            Assert.False(trainer.Step(b).Skipped);
        }
    }

    [Theory]
    [InlineData(false, null)]
    [InlineData(true, null)]
    [InlineData(false, 3)]
    public void LockedImageTowerEndsBitIdenticalWhileTheTextTowerLearns(bool bf16, int? microBatch)
    {
        using var model = NewModel(Vit, 1);
        var before = Snapshot(model);
        var options = new ClipTrainerOptions
        {
            LearningRate = 1e-2, WarmupSteps = 0, WeightDecay = 0.2, ImageTowerLock = TowerLock.Full, MicroBatchSize = microBatch,
            Precision = bf16 ? TrainingPrecision.BFloat16Mixed : TrainingPrecision.Float32, CacheLockedTowerFeatures = true,
        };
        using (var trainer = new ClipTrainer(model, new ContrastiveObjective(), options, totalSteps: 4))
        {
            for (int i = 0; i < 4; i++)
            {
                using var b = RandomBatch(Vit, 8, i % 2, firstRowId: (i % 2) * 100);
                trainer.Step(b);
            }
            // No optimizer state for a locked parameter (AdamW keeps moments only for what it updates).
            var state = trainer.Optimizer.StateDict().Keys.Where(k => k.StartsWith("exp_avg", StringComparison.Ordinal)).ToList();
            Assert.NotEmpty(state);
            Assert.DoesNotContain(state, k => k.Contains(".visual.", StringComparison.Ordinal) || k.StartsWith("exp_avg.visual.", StringComparison.Ordinal) || k.StartsWith("exp_avg_sq.visual.", StringComparison.Ordinal));
            Assert.Equal(model.parameters().Sum(p => p.numel()) - model.Visual.parameters().Sum(p => p.numel()), trainer.TrainableParameterCount);
            // Two distinct batches of 8 rows were seen, each encoded once; the other two steps came from the cache.
            Assert.Equal((16L, 16L, 0L), trainer.LockedFeatures!.Counts);
        }
        foreach (var (name, value) in model.state_dict())
        {
            bool same = Same(value, before[name]);
            if (name.StartsWith("visual.", StringComparison.Ordinal)) Assert.True(same, $"locked {name} changed");
            else if (name is "transformer.resblocks.0.attn.in_proj_weight" or "text_projection" or "logit_scale")
                Assert.False(same, $"trained {name} did not change");
        }
        // The trainer releases its locks when disposed: the caller's model is trainable again.
        Assert.All(model.parameters(), p => Assert.True(p.requires_grad));
    }

    [Fact]
    public void LockedResNetKeepsItsBatchNormStatistics()
    {
        using var model = NewModel(ResNet, 2);
        var before = Snapshot(model);
        Train(model, new ContrastiveObjective(), new ClipTrainerOptions { LearningRate = 1e-2, WarmupSteps = 0, ImageTowerLock = TowerLock.Full }, 3,
            i => RandomBatch(ResNet, 6, 10 + i));
        var stats = model.state_dict().Where(p => p.Key.Contains("running_", StringComparison.Ordinal)).ToList();
        Assert.NotEmpty(stats);
        foreach (var (name, value) in model.state_dict().Where(p => p.Key.StartsWith("visual.", StringComparison.Ordinal)))
            Assert.True(Same(value, before[name]), $"{name} changed");

        // The same training without the lock moves the statistics: the check above can fail.
        using var free = NewModel(ResNet, 2);
        Train(free, new ContrastiveObjective(), new ClipTrainerOptions { LearningRate = 1e-2, WarmupSteps = 0 }, 1, i => RandomBatch(ResNet, 6, 10 + i));
        Assert.False(Same(free.state_dict()["visual.bn1.running_mean"], before["visual.bn1.running_mean"]));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void AllButLastBlocksTrainsOnlyTheLastBlocksAndTheHead(bool trainNorms)
    {
        using var model = NewModel(Vit, 3);
        var before = Snapshot(model);
        Train(model, new ContrastiveObjective(), new ClipTrainerOptions { LearningRate = 1e-2, WarmupSteps = 0, TextTowerLock = TowerLock.AllButLast(1, trainNorms) }, 3,
            i => RandomBatch(Vit, 8, 20 + i));
        foreach (var (name, value) in model.state_dict())
        {
            if (name.StartsWith("visual.", StringComparison.Ordinal) || name.StartsWith("logit", StringComparison.Ordinal)) continue;
            bool isNorm = name.Contains(".ln_", StringComparison.Ordinal) || name.StartsWith("ln_", StringComparison.Ordinal);
            bool trained = name.StartsWith("transformer.resblocks.2.", StringComparison.Ordinal) || name.StartsWith("ln_final.", StringComparison.Ordinal)
                           || name == "text_projection" || (trainNorms && isNorm);
            Assert.True(trained != Same(value, before[name]), $"{name}: expected {(trained ? "trained" : "locked")}");
        }
    }

    [Theory]
    [InlineData(null)]
    [InlineData(3)]
    public void LockingChangesNoTrainedGradient(int? microBatch)
    {
        // The locked tower's features are computed without autograd (and cached): the loss and the gradients of the
        // trained parameters must be those of full training, where only the locked ones' gradients are dropped.
        using var model = NewModel(Vit, 4);
        using var copy = model.Copy();
        var options = new ClipTrainerOptions { WarmupSteps = 0, MicroBatchSize = microBatch };
        using var full = new ClipTrainer(model, new ContrastiveObjective(), options, 1);
        using var lit = new ClipTrainer(copy, new ContrastiveObjective(), options with { ImageTowerLock = TowerLock.Full, CacheLockedTowerFeatures = true }, 1);
        using var batch = RandomBatch(Vit, 8, 30);
        var (l1, g1) = full.LossAndGradients(batch);
        var (l2, g2) = lit.LossAndGradients(batch);
        // The same kernels on the same inputs, but libtorch's GEMMs split their sums over the threads free at the time
        // (this machine is shared), so values may differ at fp32 rounding: ~1e-7 relative per product, a few ulps of the
        // loss (~3). 1e-6 relative allows that; features of another row, or a locked tower in the wrong mode, move the
        // loss by tenths.
        Approx.Equal(l1, l2, atol: 0, rtol: 1e-6, "loss with the image tower locked");
        Assert.DoesNotContain(g2.Keys, k => k.StartsWith("visual.", StringComparison.Ordinal));
        Assert.Equal(g1.Keys.Where(k => !k.StartsWith("visual.", StringComparison.Ordinal)).Order(), g2.Keys.Order());
        foreach (var (name, g) in g2)
        {
            // Weight gradients are batch sums with cancellation: rounding relative to the tensor's largest entry (1e-5 of
            // it, as in the accumulation test) plus 1e-4 of the entry; a wrong feature or a dropped term misses by far more.
            double scale = g1[name].abs().max().item<float>();
            Assert.True(g.allclose(g1[name], rtol: 1e-4, atol: 1e-5 * scale + 1e-9), $"gradient of {name} differs");
        }
    }

    [Fact]
    public void TheCacheEncodesARowAgainWhenItsInputChanged()
    {
        using var model = NewModel(Vit, 5);
        using var trainer = new ClipTrainer(model, new ContrastiveObjective(),
            new ClipTrainerOptions { WarmupSteps = 0, ImageTowerLock = TowerLock.Full, CacheLockedTowerFeatures = true }, 3);
        using (var b = RandomBatch(Vit, 6, 40)) trainer.Step(b);
        using (var b = RandomBatch(Vit, 6, 40))
        {
            b.Pixels[2].add_(1);  // row id 2, another image
            trainer.Step(b);
        }
        Assert.Equal((5L, 7L, 1L), trainer.LockedFeatures!.Counts);
    }

    [Fact]
    public void MomentumCopiesKeepTheLockedTowerExact()
    {
        using var model = NewModel(Vit, 6);
        var wenlan = new WenLanObjective(new WenLanOptions { QueueSize = 16, Momentum = 0.9 });
        Train(model, wenlan, new ClipTrainerOptions { LearningRate = 1e-2, WarmupSteps = 0, ImageTowerLock = TowerLock.Full }, 3, i => RandomBatch(Vit, 8, 50 + i));
        var key = wenlan.KeyModel.state_dict();
        foreach (var (name, value) in model.state_dict())
        {
            bool same = Same(key[name], value);
            if (name.StartsWith("visual.", StringComparison.Ordinal)) Assert.True(same, $"key model's {name} drifted from the locked query tower");
            else if (name == "text_projection") Assert.False(same, "the key model's text tower does not follow at momentum 0.9");
        }
        wenlan.Dispose();

        using var vit = NewModel(Vit with { Vision = Vit.Vision with { Layers = 2 } }, 7);
        var maskClip = new MaskClipObjective(new MaskClipOptions { Prototypes = 16, TeacherMomentum = 0.9 });
        Train(vit, maskClip, new ClipTrainerOptions { LearningRate = 1e-2, WarmupSteps = 0, ImageTowerLock = TowerLock.AllButLast(1) }, 2, i => RandomBatch(Vit, 8, 60 + i));
        var teacher = maskClip.Teacher.state_dict();
        Assert.True(Same(teacher["transformer.resblocks.0.mlp.c_fc.weight"], vit.state_dict()["visual.transformer.resblocks.0.mlp.c_fc.weight"]));
        Assert.False(Same(teacher["proj"], vit.state_dict()["visual.proj"]));
        maskClip.Dispose();
    }
}
