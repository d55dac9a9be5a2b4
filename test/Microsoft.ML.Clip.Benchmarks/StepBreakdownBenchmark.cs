using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Linq;
using Microsoft.ML.Clip.Imaging;
using Microsoft.ML.Clip.Modeling;
using Microsoft.ML.Clip.Training;
using Microsoft.ML.Clip.Training.Objectives;
using static TorchSharp.torch;

namespace Microsoft.ML.Clip.Benchmarks;

/// <summary>
/// Where a ViT-B-32 training step's time goes: the step is timed whole, then each kind of work it contains is
/// timed alone at the step's shapes (forward and backward of every attention layer, MLP and LayerNorm of both towers,
/// the patch embedding, the loss, the AdamW update) and scaled by how often the step runs it. What the parts leave of
/// the whole is the rest (embeddings, pooling, projections, dispose and autograd overhead). Data preparation (PIL-exact
/// preprocessing of a batch of 500 × 375 photos' worth of pixels, on the preprocessing threads) is reported beside it:
/// in a pipeline it overlaps the step on other cores. Attention is also timed through libtorch's fused
/// scaled_dot_product_attention, beside the explicit form the step uses.
/// </summary>
internal static class StepBreakdownBenchmark
{
    public static void Run(int batch = 32, int repetitions = 3)
    {
        var config = ClipPresets.VitB32;
        manual_seed(0);
        using var model = new ClipModel(config);
        using var trainer = new ClipTrainer(model, new ContrastiveObjective(), new ClipTrainerOptions { WarmupSteps = 1 }, 1000);
        using var pixels = randn(batch, 3, 224, 224);
        using var tokens = randint(1, 49000, new long[] { batch, 77 });
        tokens[TensorIndex.Colon, 40] = 49407;
        using var data = new TrainingBatch(pixels, tokens);
        double step = Measure.MedianSeconds(() => trainer.Step(data), warmup: 1, repetitions: repetitions);

        var v = config.Vision;
        var t = config.Text;
        long imageTokens = (v.ImageSize / v.PatchSize) * (v.ImageSize / v.PatchSize) + 1;
        var parts = new Dictionary<string, double>
        {
            ["image_attention"] = v.Layers * Timed(new MultiheadSelfAttention(v.Width, v.Width / v.HeadWidth), x => null, batch, imageTokens, v.Width, repetitions),
            ["image_mlp"] = v.Layers * Timed(new Mlp(v.Width, (long)(v.Width * v.MlpRatio), MlpActivations.ForText(config)), batch, imageTokens, v.Width, repetitions),
            ["image_norms"] = (2 * v.Layers + 2) * Timed(new ClipLayerNorm(v.Width), batch, imageTokens, v.Width, repetitions),
            ["text_attention"] = t.Layers * Timed(new MultiheadSelfAttention(t.Width, t.Heads), CausalMask, batch, t.ContextLength, t.Width, repetitions),
            ["text_mlp"] = t.Layers * Timed(new Mlp(t.Width, (long)(t.Width * t.MlpRatio), MlpActivations.ForText(config)), batch, t.ContextLength, t.Width, repetitions),
            ["text_norms"] = (2 * t.Layers + 1) * Timed(new ClipLayerNorm(t.Width), batch, t.ContextLength, t.Width, repetitions),
            ["patch_embedding"] = TimedPatchEmbedding(v, batch, repetitions),
            ["loss"] = TimedLoss(batch, config.EmbedDim, repetitions),
            ["optimizer"] = Measure.MedianSeconds(() => trainer.Optimizer.Step(1e-4), warmup: 1, repetitions: repetitions),
        };
        var fields = new List<(string, object)> { ("batch", batch), ("step_s", step) };
        fields.AddRange(parts.Select(p => (p.Key + "_fraction", (object)(p.Value / step))));
        fields.Add(("rest_fraction", 1 - parts.Values.Sum() / step));
        fields.Add(("data_preprocessing_s_per_batch", TimedPreprocessing(batch, v.ImageSize, repetitions)));
        // The same attention layers through libtorch's scaled_dot_product_attention (MultiheadSelfAttention.UseFusedAttention),
        // as fractions of the same step: whether the fused kernel would pay on this CPU.
        fields.Add(("image_attention_fused_fraction", v.Layers * Timed(new MultiheadSelfAttention(v.Width, v.Width / v.HeadWidth) { UseFusedAttention = true }, x => null, batch, imageTokens, v.Width, repetitions) / step));
        fields.Add(("text_attention_fused_fraction", t.Layers * Timed(new MultiheadSelfAttention(t.Width, t.Heads) { UseFusedAttention = true }, CausalMask, batch, t.ContextLength, t.Width, repetitions) / step));
        Measure.Report("vit-b-32-step-breakdown-fp32", fields.ToArray());
    }

    private static Tensor? CausalMask(long length) => full(length, length, float.NegativeInfinity).triu_(1);

    /// <summary>Forward and backward of one layer on [batch, tokens, width] activations with an output gradient.</summary>
    private static double Timed(nn.Module<Tensor, Tensor?, Tensor> layer, Func<long, Tensor?> mask, long batch, long tokens, long width, int repetitions)
    {
        using var m = mask(tokens);
        return TimedLayer(x => layer.forward(x, m), batch, tokens, width, repetitions);
    }

    private static double Timed(nn.Module<Tensor, Tensor> layer, long batch, long tokens, long width, int repetitions) =>
        TimedLayer(layer.forward, batch, tokens, width, repetitions);

    private static double TimedLayer(Func<Tensor, Tensor> layer, long batch, long tokens, long width, int repetitions)
    {
        using var x = randn(batch, tokens, width).requires_grad_(true);
        using var gradient = randn(batch, tokens, width);
        return Measure.MedianSeconds(() =>
        {
            using var scope = NewDisposeScope();
            layer(x).backward([gradient]);
        }, warmup: 1, repetitions: repetitions);
    }

    private static double TimedPatchEmbedding(VisionConfig v, long batch, int repetitions)
    {
        using var conv = nn.Conv2d(3, v.Width, v.PatchSize, stride: v.PatchSize, bias: false);
        using var x = randn(batch, 3, v.ImageSize, v.ImageSize);
        long side = v.ImageSize / v.PatchSize;
        using var gradient = randn(batch, v.Width, side, side);
        return Measure.MedianSeconds(() =>
        {
            using var scope = NewDisposeScope();
            conv.forward(x).backward([gradient]);
        }, warmup: 1, repetitions: repetitions);
    }

    private static double TimedLoss(long batch, long width, int repetitions)
    {
        using var images = randn(batch, width).requires_grad_(true);
        using var texts = randn(batch, width).requires_grad_(true);
        using var scale = tensor(MathF.Log(1 / 0.07f)).requires_grad_(true);
        using var labels = arange(batch);
        return Measure.MedianSeconds(() =>
        {
            using var scope = NewDisposeScope();
            var logits = scale.exp() * nn.functional.normalize(images, dim: 1).mm(nn.functional.normalize(texts, dim: 1).t());
            var loss = (nn.functional.cross_entropy(logits, labels) + nn.functional.cross_entropy(logits.t(), labels)) / 2;
            loss.backward();
        }, warmup: 1, repetitions: repetitions);
    }

    /// <summary>Seconds to preprocess one batch of 500 × 375 RGB images to 224 px on all cores.</summary>
    private static double TimedPreprocessing(int batch, int size, int repetitions)
    {
        var preprocessor = new ClipImagePreprocessor(new ImagePreprocessingOptions(size));
        var random = new Random(1);
        var images = Enumerable.Range(0, batch).Select(_ => { var p = new byte[500 * 375 * 3]; random.NextBytes(p); return p; }).ToArray();
        var output = new float[preprocessor.OutputLength * batch];
        return Measure.MedianSeconds(() => System.Threading.Tasks.Parallel.For(0, batch, i =>
            preprocessor.PreprocessInto(images[i], 500, 375, 500 * 3, RawPixelFormat.Rgb24, output.AsSpan(i * preprocessor.OutputLength, preprocessor.OutputLength))),
            warmup: 1, repetitions: repetitions);
    }
}
