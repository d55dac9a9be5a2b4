using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Linq;
using Microsoft.ML.Clip.Diagnostics;
using Microsoft.ML.Clip.Imaging;
using Microsoft.ML.Clip.Modeling;
using Microsoft.ML.Clip.Training;
using Microsoft.ML.Clip.Training.Objectives;
using static TorchSharp.torch;

namespace Microsoft.ML.Clip.Benchmarks;

/// <summary>
/// Where a training step's time goes (ViT-B-32, and the train-small step): the step is timed whole, then each kind of work it contains is
/// timed alone at the step's shapes (forward and backward of every attention layer, MLP and LayerNorm of both towers,
/// the patch embedding, the loss, the AdamW update) and scaled by how often the step runs it. What the parts leave of
/// the whole is the rest (embeddings, pooling, projections, dispose and autograd overhead). Data preparation (PIL-exact
/// preprocessing of a batch of 500 × 375 photos' worth of pixels, on the preprocessing threads) is reported beside it:
/// in a pipeline it overlaps the step on other cores. Attention is also timed through libtorch's fused
/// scaled_dot_product_attention, beside the explicit form the step uses. In fp32 and, on CPUs with bf16 instructions,
/// in bf16 mixed precision.
/// </summary>
internal static class StepBreakdownBenchmark
{
    /// <summary>
    /// ViT-B-32 at batch 32 and the train-small step of the <c>training</c> benchmark at batch 64 (whose bf16 rate is the
    /// one compared with the bf16 matrix-product rate): each in fp32, then (on a CPU with bf16 instructions) in bf16 mixed
    /// precision.
    /// </summary>
    public static void Run(int repetitions = 3)
    {
        foreach (var (name, config, batch) in new[] { ("vit-b-32", ClipPresets.VitB32, 32), ("train-small", ClipPresets.Small, 64) })
        {
            Run(name, config, TrainingPrecision.Float32, batch, repetitions);
            if (CpuInfo.Detect().HasFastBFloat16) Run(name, config, TrainingPrecision.BFloat16Mixed, batch, repetitions);
            else Measure.Report($"{name}-step-breakdown-bf16-mixed", ("skipped", "no native bf16 on this CPU"));
        }
    }

    /// <summary>
    /// One breakdown. In bf16 mixed precision the layers compute in bf16 as the trainer's working copy does (attention and
    /// MLPs read bf16 and write bf16; the layer norms read the fp32 residual stream and write bf16), and two parts exist
    /// only there: the residual additions of bf16 block outputs to the fp32 stream, and the master-weight traffic of a step
    /// (fp32 master → bf16 working copy, bf16 gradients → fp32).
    /// </summary>
    private static void Run(string name, ClipConfig config, TrainingPrecision precision, int batch, int repetitions)
    {
        bool bf16 = precision == TrainingPrecision.BFloat16Mixed;
        var compute = bf16 ? ScalarType.BFloat16 : ScalarType.Float32;
        manual_seed(0);
        using var model = new ClipModel(config);
        using var trainer = new ClipTrainer(model, new ContrastiveObjective(), new ClipTrainerOptions { WarmupSteps = 1, Precision = precision }, 1000);
        using var pixels = randn(batch, 3, config.Vision.ImageSize, config.Vision.ImageSize);
        int context = config.Text.ContextLength, vocabulary = config.Text.VocabSize;
        using var tokens = randint(1, vocabulary - 1, new long[] { batch, context });
        tokens[TensorIndex.Colon, context / 2] = vocabulary - 1; // end of text: the largest id
        using var data = new TrainingBatch(pixels, tokens);
        double step = Measure.MedianSeconds(() => trainer.Step(data), warmup: 1, repetitions: repetitions);

        var v = config.Vision;
        var t = config.Text;
        long imageTokens = (v.ImageSize / v.PatchSize) * (v.ImageSize / v.PatchSize) + 1;
        var shapes = new Shapes(batch, compute, repetitions);
        var parts = new Dictionary<string, double>
        {
            ["image_attention"] = v.Layers * shapes.Timed(new MultiheadSelfAttention(v.Width, v.Width / v.HeadWidth, dtype: compute), x => null, imageTokens, v.Width),
            ["image_mlp"] = v.Layers * shapes.Timed(new Mlp(v.Width, (long)(v.Width * v.MlpRatio), MlpActivations.ForText(config), dtype: compute), imageTokens, v.Width),
            ["image_norms"] = (2 * v.Layers + 2) * shapes.TimedNorm(new ClipLayerNorm(v.Width, dtype: compute), imageTokens, v.Width),
            ["text_attention"] = t.Layers * shapes.Timed(new MultiheadSelfAttention(t.Width, t.Heads, dtype: compute), CausalMask, t.ContextLength, t.Width),
            ["text_mlp"] = t.Layers * shapes.Timed(new Mlp(t.Width, (long)(t.Width * t.MlpRatio), MlpActivations.ForText(config), dtype: compute), t.ContextLength, t.Width),
            ["text_norms"] = (2 * t.Layers + 1) * shapes.TimedNorm(new ClipLayerNorm(t.Width, dtype: compute), t.ContextLength, t.Width),
            ["patch_embedding"] = TimedPatchEmbedding(v, batch, compute, repetitions),
            ["loss"] = TimedLoss(batch, config.EmbedDim, repetitions),
            ["optimizer"] = TimedOptimizer(trainer, repetitions),
        };
        if (bf16)
        {
            parts["residual_adds"] = 2 * (v.Layers * shapes.TimedResidualAdd(imageTokens, v.Width) + t.Layers * shapes.TimedResidualAdd(t.ContextLength, t.Width));
            parts["master_weight_copies"] = TimedMasterCopies(model, repetitions);
        }
        var fields = new List<(string, object)> { ("batch", batch), ("step_s", step) };
        fields.AddRange(parts.Select(p => (p.Key + "_fraction", (object)(p.Value / step))));
        fields.Add(("rest_fraction", 1 - parts.Values.Sum() / step));
        fields.Add(("data_preprocessing_s_per_batch", TimedPreprocessing(batch, v.ImageSize, repetitions)));
        // The same attention layers through libtorch's scaled_dot_product_attention (MultiheadSelfAttention.UseFusedAttention),
        // as fractions of the same step: whether the fused kernel would pay on this CPU.
        fields.Add(("image_attention_fused_fraction", v.Layers * shapes.Timed(new MultiheadSelfAttention(v.Width, v.Width / v.HeadWidth, dtype: compute) { UseFusedAttention = true }, x => null, imageTokens, v.Width) / step));
        fields.Add(("text_attention_fused_fraction", t.Layers * shapes.Timed(new MultiheadSelfAttention(t.Width, t.Heads, dtype: compute) { UseFusedAttention = true }, CausalMask, t.ContextLength, t.Width) / step));
        Measure.Report($"{name}-step-breakdown-{(bf16 ? "bf16-mixed" : "fp32")}", fields.ToArray());
    }

    private static Tensor? CausalMask(long length) => full(length, length, float.NegativeInfinity).triu_(1);

    /// <summary>Forward and backward of layers on [batch, tokens, width] activations with an output gradient, in one dtype.</summary>
    private sealed record Shapes(long Batch, ScalarType DType, int Repetitions)
    {
        /// <summary>An attention layer: reads and writes <see cref="DType"/>.</summary>
        public double Timed(nn.Module<Tensor, Tensor?, Tensor> layer, Func<long, Tensor?> mask, long tokens, long width)
        {
            using var m = mask(tokens);
            return TimedLayer(x => layer.forward(x, m), DType, tokens, width);
        }

        /// <summary>An MLP: reads and writes <see cref="DType"/>.</summary>
        public double Timed(nn.Module<Tensor, Tensor> layer, long tokens, long width) => TimedLayer(layer.forward, DType, tokens, width);

        /// <summary>A layer norm as a block runs it: reads the residual stream (fp32), writes <see cref="DType"/>.</summary>
        public double TimedNorm(ClipLayerNorm norm, long tokens, long width) =>
            TimedLayer(x => norm.forward(x, DType), ScalarType.Float32, tokens, width);

        /// <summary>A residual addition: the fp32 stream plus a block output in <see cref="DType"/>.</summary>
        public double TimedResidualAdd(long tokens, long width)
        {
            using var output = randn(Batch, tokens, width).to(DType).requires_grad_(true);
            return TimedLayer(x => x + output, ScalarType.Float32, tokens, width);
        }

        private double TimedLayer(Func<Tensor, Tensor> layer, ScalarType input, long tokens, long width)
        {
            using var x = randn(Batch, tokens, width).to(input).requires_grad_(true);
            using var gradient = randn(Batch, tokens, width);
            return Measure.MedianSeconds(() =>
            {
                using var scope = NewDisposeScope();
                var y = layer(x);
                y.backward([gradient.to(y.dtype)]);
            }, warmup: 1, repetitions: Repetitions);
        }
    }

    /// <summary>One AdamW update of every trained parameter from fp32 gradients given to it, as a step hands them over (in
    /// bf16 mixed precision the master parameters themselves hold no gradients).</summary>
    private static double TimedOptimizer(ClipTrainer trainer, int repetitions)
    {
        using var scope = NewDisposeScope();
        var gradients = trainer.Optimizer.Parameters.ToDictionary(p => p.Name, p => (Tensor)full_like(p.Parameter, 1e-3));
        return Measure.MedianSeconds(() => trainer.Optimizer.Step(1e-4, gradients), warmup: 1, repetitions: repetitions);
    }

    /// <summary>The master-weight traffic of a bf16 mixed step: every parameter copied fp32 → bf16 (the working copy's
    /// refresh) and a bf16 gradient of its size cast to fp32 (what the optimizer reads).</summary>
    private static double TimedMasterCopies(ClipModel master, int repetitions)
    {
        using var scope = NewDisposeScope();
        var pairs = master.parameters().Select(p => (Master: p, Working: p.detach().to(ScalarType.BFloat16), Gradient: zeros_like(p, dtype: ScalarType.BFloat16))).ToList();
        return Measure.MedianSeconds(() =>
        {
            using var inner = NewDisposeScope();
            using var noGrad = no_grad();
            foreach (var (m, w, g) in pairs)
            {
                w.copy_(m);
                g.to(ScalarType.Float32);
            }
        }, warmup: 1, repetitions: repetitions);
    }

    private static double TimedPatchEmbedding(VisionConfig v, long batch, ScalarType dtype, int repetitions)
    {
        using var conv = nn.Conv2d(3, v.Width, v.PatchSize, stride: v.PatchSize, bias: false, dtype: dtype);
        using var x = randn(batch, 3, v.ImageSize, v.ImageSize).to(dtype);
        long side = v.ImageSize / v.PatchSize;
        using var gradient = randn(batch, v.Width, side, side).to(dtype);
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
