using System;
using System.Linq;
using Microsoft.ML.Clip.Modeling;
using Microsoft.ML.Clip.Training;
using Microsoft.ML.Clip.Training.Objectives;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace Microsoft.ML.Clip.Tests.Training;

[Collection("ActivationCheckpoint")] // the recomputation counter is process-wide
public class ActivationCheckpointTests
{
    private static readonly ClipConfig Config = new()
    {
        EmbedDim = 32,
        Vision = new VisionConfig { ImageSize = 16, Layers = 3, Width = 32, HeadWidth = 16, PatchSize = 8 },
        Text = new TextConfig { ContextLength = 8, VocabSize = 100, Width = 32, Heads = 2, Layers = 2 },
    };

    private static TrainingBatch RandomBatch(int size, int seed)
    {
        var generator = new Generator((ulong)seed);
        var pixels = randn(new long[] { size, 3, 16, 16 }, generator: generator);
        var tokens = randint(1, 98, new long[] { size, 8 }, generator: generator);
        tokens[TensorIndex.Colon, 7] = 99;
        return new TrainingBatch(pixels, tokens);
    }

    [Theory]
    [InlineData(CheckpointedTowers.Both, null, 5L, TrainingPrecision.Float32)]
    [InlineData(CheckpointedTowers.Image, null, 3L, TrainingPrecision.Float32)]
    [InlineData(CheckpointedTowers.Text, 3, 6L, TrainingPrecision.Float32)] // 3 micro-batches × 2 text blocks
    [InlineData(CheckpointedTowers.Both, null, 5L, TrainingPrecision.BFloat16Mixed)] // the bf16 working copy is checkpointed
    public void GradientsEqualThoseWithoutCheckpointing(CheckpointedTowers towers, int? microBatch, long recomputed, TrainingPrecision precision)
    {
        manual_seed(11);
        using var plain = new ClipModel(Config);
        using var checkpointed = plain.Copy();
        var options = new ClipTrainerOptions { WarmupSteps = 0, GradientClipNorm = null, MicroBatchSize = microBatch, Precision = precision };
        using var t1 = new ClipTrainer(plain, new ContrastiveObjective(), options, 10);
        using var t2 = new ClipTrainer(checkpointed, new ContrastiveObjective(), options with { ActivationCheckpointing = towers }, 10);
        using var batch = RandomBatch(8, 4);

        var (l1, g1) = t1.LossAndGradients(batch);
        long before = ActivationCheckpoint.Recomputations;
        var (l2, g2) = t2.LossAndGradients(batch);

        // Every checkpointed block ran once more in the backward pass, so checkpointing was in effect.
        Assert.Equal(recomputed, ActivationCheckpoint.Recomputations - before);
        // The recomputation repeats the same kernels on the same shapes, so values agree to float rounding; 1e-6 of
        // the largest entry (plus 1e-5 relative) leaves room for a thread-split reduction and is far below what a
        // missing parameter gradient or a wrong block input would give (the whole gradient, or tens of percent).
        Approx.Equal(l1, l2, atol: 1e-6, rtol: 0, "loss");
        Assert.Equal(g1.Keys.Order(), g2.Keys.Order());
        foreach (var (name, a) in g1)
        {
            double scale = a.abs().max().item<float>();
            Assert.True(a.allclose(g2[name], rtol: 1e-5, atol: 1e-6 * scale + 1e-12), $"gradient of {name} differs");
        }
    }

    // A checkpointed backward pass must free each block's tensors (its saved input, recomputed output, incoming and
    // outgoing gradients) when the block is done, not leave them in the caller's dispose scope until the training step
    // ends: that kept ~100 MB per block alive in a ViT-B-32 step at batch 128 (2.2 GB of its 7.6 GB peak). What the
    // pass leaves in the scope must not grow with the number of blocks.
    [Fact]
    public void TheBackwardPassLeavesNothingPerBlockInTheCallersScope()
    {
        static int LeftAfterBackward(int layers)
        {
            manual_seed(13);
            using var model = new ClipModel(Config with { Vision = Config.Vision with { Layers = layers } });
            model.train();
            model.CheckpointActivations(image: true, text: false);
            using var pixels = randn(4, 3, 16, 16);
            using var scope = NewDisposeScope();
            long before = ActivationCheckpoint.Recomputations;
            var loss = model.EncodeImage(pixels).sum();
            int afterForward = scope.DisposablesCount;
            loss.backward();
            Assert.Equal(layers, ActivationCheckpoint.Recomputations - before);
            return scope.DisposablesCount - afterForward;
        }
        Assert.Equal(LeftAfterBackward(2), LeftAfterBackward(6));
    }

    [Fact]
    public void InferenceAndPassesWithoutGradientsAreUnaffected()
    {
        manual_seed(12);
        using var model = new ClipModel(Config);
        using var trainer = new ClipTrainer(model, new ContrastiveObjective(), new ClipTrainerOptions { ActivationCheckpointing = CheckpointedTowers.Both }, 10);
        using var batch = RandomBatch(4, 5);
        long before = ActivationCheckpoint.Recomputations;
        model.eval();
        using (no_grad())
        using (var features = model.EncodeImage(batch.Pixels))
            Assert.Equal(new long[] { 4, 32 }, features.shape);
        Assert.Equal(before, ActivationCheckpoint.Recomputations);
    }

    [Fact]
    public void AResNetImageTowerIsRefusedWithAReason()
    {
        var config = Config with { Vision = new VisionConfig { ImageSize = 32, ResNetLayers = [1, 1, 1, 1], Width = 16, HeadWidth = 16 } };
        using var model = new ClipModel(config);
        var error = Assert.Throws<NotSupportedException>(() =>
            new ClipTrainer(model, new ContrastiveObjective(), new ClipTrainerOptions { ActivationCheckpointing = CheckpointedTowers.Image }, 10));
        Assert.Contains("Checkpoint the text tower only", error.Message);
        using var textOnly = new ClipTrainer(model, new ContrastiveObjective(), new ClipTrainerOptions { ActivationCheckpointing = CheckpointedTowers.Text }, 10);
    }
}
