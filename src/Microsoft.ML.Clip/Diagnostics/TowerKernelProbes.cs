using System;
using System.Collections.Generic;
using Microsoft.ML.Clip.Modeling;
using Microsoft.ML.Clip.Modeling.Kernels;
using Microsoft.ML.Clip.Modeling.Losses;
using Microsoft.ML.Clip.Torch;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace Microsoft.ML.Clip.Diagnostics;

/// <summary>
/// Kernel probes of every operation the towers and losses use, at shapes the towers use: text transformer
/// (width 512, 77 tokens), ViT-B-32 patch embedding, RN50 stem and bottleneck convolutions, the tiny ResNet
/// fixture's stem (the convolution found wrong on Zen 5), the contrastive and sigmoid losses.
/// </summary>
internal static class TowerKernelProbes
{
    private const long Tokens = 77, Width = 512, Heads = 8, HeadDim = 64, Batch = 2;

    /// <summary>The names of the operations <see cref="All"/> covers (one or more probes each).</summary>
    public static readonly string[] Operations =
        ["linear", "conv2d[onednn]", "conv2d[im2col]", "scaled_dot_product_attention", "explicit_attention", "softmax", "layer_norm",
         "batch_norm_train", "gelu", "quick_gelu", "clip_loss", "siglip_loss"];

    /// <summary>The convolution signatures checked on both paths (batch before the check's cut).</summary>
    public static IReadOnlyList<ConvSignature> Convolutions(ScalarType dtype) =>
    [
        new(4, 3, 32, 32, 8, 3, 3, 2, 2, 1, 1, dtype),        // tiny-rn fixture stem (the Zen 5 finding)
        new(8, 3, 224, 224, 32, 3, 3, 2, 2, 1, 1, dtype),     // RN50 stem conv1
        new(8, 64, 56, 56, 64, 3, 3, 1, 1, 1, 1, dtype),      // RN50 layer1 3×3
        new(8, 64, 56, 56, 256, 1, 1, 1, 1, 0, 0, dtype),     // RN50 layer1 1×1 expansion / downsample
        new(8, 3, 224, 224, 768, 32, 32, 32, 32, 0, 0, dtype), // ViT-B-32 patch embedding
    ];

    /// <summary>Every probe except the convolutions (which <see cref="ConvKernelCheck"/> builds per signature).</summary>
    public static IReadOnlyList<KernelProbe> All() =>
    [
        Linear(), Attention(fused: false, causal: false), Attention(fused: false, causal: true), Attention(fused: true, causal: false),
        Attention(fused: true, causal: true), Softmax(), LayerNorm(), BatchNormTrain(), Gelu(), QuickGeluProbe(), ClipLossProbe(), SigLipLossProbe(),
    ];

    private static KernelProbe Linear()
    {
        long rows = Batch * Tokens, hidden = 4 * Width; // the MLP's c_fc
        return new KernelProbe($"linear [{rows},{Width}]x[{hidden},{Width}]ᵀ+b",
            [new("input", [rows, Width], hidden), new("weight", [hidden, Width], rows, Scaled([hidden, Width], Width)), new("bias", [hidden], rows)],
            x => F.linear(x[0], x[1], x[2]), Width);
    }

    private static KernelProbe Attention(bool fused, bool causal)
    {
        long[] shape = [Batch, Heads, Tokens, HeadDim];
        string name = (fused ? "scaled_dot_product_attention" : "explicit_attention") + $" [{Batch},{Heads},{Tokens},{HeadDim}]" + (causal ? " causal mask" : "");
        Tensor Compute(Tensor[] x)
        {
            using var scope = NewDisposeScope();
            var mask = causal ? CausalMask(x[0].dtype) : null;
            var output = fused ? F.scaled_dot_product_attention(x[0], x[1], x[2], attn_mask: mask) : Explicit(x[0], x[1], x[2], mask);
            return output.MoveToOuterDisposeScope();
        }
        // Scores sum over the head dimension, outputs over the tokens; gradients of q and k go through both.
        return new KernelProbe(name, [new("q", shape, Tokens * HeadDim), new("k", shape, Tokens * HeadDim), new("v", shape, Tokens)],
            Compute, Math.Max(Tokens, HeadDim), roundings: 3);
    }

    private static Tensor Explicit(Tensor q, Tensor k, Tensor v, Tensor? mask)
    {
        var scores = ScalarSafe.Mul(q.matmul(k.transpose(-2, -1)), 1 / Math.Sqrt(q.shape[^1]));
        if (mask is not null) scores = ScalarSafe.Add(scores, mask);
        return scores.softmax(-1).matmul(v);
    }

    // The text tower's additive mask: −inf above the diagonal.
    private static Tensor CausalMask(ScalarType dtype) =>
        ScalarSafe.Full([Tokens, Tokens], double.NegativeInfinity, dtype).triu(1);

    private static KernelProbe Softmax() =>
        new($"softmax [{Batch * Heads * Tokens},{Tokens}]", [new("input", [Batch * Heads * Tokens, Tokens], Tokens)], x => x[0].softmax(-1), Tokens);

    private static KernelProbe LayerNorm() =>
        new($"layer_norm [{Batch * Tokens},{Width}]",
            [new("input", [Batch * Tokens, Width], Width), new("weight", [Width], Batch * Tokens), new("bias", [Width], Batch * Tokens)],
            // Roundings 4, not 2: ATen's bf16 layer_norm weight gradient was measured ~6 half-ulps off (partial sums
            // kept in bf16); the model's 2 roundings would leave it no margin.
            x => F.layer_norm(x[0], [Width], x[1], x[2]), Width, roundings: 4);

    private static KernelProbe BatchNormTrain()
    {
        long[] shape = [8, 64, 28, 28];
        long perChannel = 8 * 28 * 28;
        Tensor Compute(Tensor[] x)
        {
            using var scope = NewDisposeScope();
            var runningMean = zeros(64, dtype: x[0].dtype);
            var runningVar = ones(64, dtype: x[0].dtype);
            return F.batch_norm(x[0], runningMean, runningVar, x[1], x[2], training: true).MoveToOuterDisposeScope();
        }
        return new KernelProbe("batch_norm_train [8,64,28,28]",
            [new("input", shape, perChannel), new("weight", [64], perChannel), new("bias", [64], perChannel)], Compute, perChannel, roundings: 2);
    }

    private static KernelProbe Gelu() =>
        new($"gelu [{Batch * Tokens},{4 * Width}]", [new("input", [Batch * Tokens, 4 * Width], 1)], x => F.gelu(x[0]), 1);

    private static KernelProbe QuickGeluProbe()
    {
        var module = new QuickGelu();
        return new KernelProbe($"quick_gelu [{Batch * Tokens},{4 * Width}]", [new("input", [Batch * Tokens, 4 * Width], 1)], x => module.forward(x[0]), 1, roundings: 2);
    }

    private static KernelProbe ClipLossProbe()
    {
        const long n = 64;
        // The library computes the loss in fp32 whatever the feature dtype; the reference is the same formula in float64.
        static Tensor Reference(Tensor[] x)
        {
            var logits = x[2] * x[0].matmul(x[1].t());
            var labels = ScalarSafe.Arange(0, x[0].shape[0], ScalarType.Int64);
            return ScalarSafe.Div(ScalarSafe.Add(F.cross_entropy(logits, labels), F.cross_entropy(logits.t(), labels)), 2);
        }
        return new KernelProbe($"clip_loss [{n},{Width}]", LossInputs(n, 16, null), x => ClipLoss.Compute(x[0], x[1], x[2]), n * Width, reference: Reference);
    }

    private static KernelProbe SigLipLossProbe()
    {
        const long n = 64;
        static Tensor Reference(Tensor[] x)
        {
            long count = x[0].shape[0];
            var logits = ScalarSafe.Add(x[2] * x[0].matmul(x[1].t()), x[3]);
            var labels = ScalarSafe.Add(ScalarSafe.Mul(eye(count, dtype: ScalarType.Float64), 2), -1);
            return ScalarSafe.Div(F.logsigmoid(labels * logits).sum(), -count);
        }
        return new KernelProbe($"siglip_loss [{n},{Width}]", LossInputs(n, 8, -8), x => SigLipLoss.Compute(x[0], x[1], x[2], x[3]), n * Width, reference: Reference);
    }

    // Unit-norm feature rows, an exponentiated scale and optionally a bias (values exact in bf16). Text rows are
    // their image rows plus noise, as trained pairs are: with unrelated pairs the gradients of the scale and bias
    // are sums that cancel almost to nothing, and an error relative to that remainder says nothing about a kernel.
    private static KernelInput[] LossInputs(long n, double scale, double? bias)
    {
        static Tensor Image(long n)
        {
            using var own = new Generator(11);
            return F.normalize(randn([n, Width], ScalarType.Float64, generator: own), dim: -1);
        }
        static Tensor Text(long n, Generator g)
        {
            using var scope = NewDisposeScope();
            var noisy = ScalarSafe.Add(Image(n), ScalarSafe.Mul(randn([n, Width], ScalarType.Float64, generator: g), 0.05));
            return F.normalize(noisy, dim: -1).MoveToOuterDisposeScope();
        }
        var inputs = new List<KernelInput>
        {
            new("image", [n, Width], n * Width, _ => Image(n)),
            new("text", [n, Width], n * Width, g => Text(n, g)),
            new("scale", [], n * n, _ => ScalarSafe.Full([], scale, ScalarType.Float64)),
        };
        if (bias is { } b) inputs.Add(new("bias", [], n * n, _ => ScalarSafe.Full([], b, ScalarType.Float64)));
        return inputs.ToArray();
    }

    // Standard normal scaled by 1/√fanIn, as initialised weights are, so outputs stay O(1).
    private static Func<Generator, Tensor> Scaled(long[] shape, long fanIn) =>
        g => ScalarSafe.Mul(randn(shape, ScalarType.Float64, generator: g), 1 / Math.Sqrt(fanIn));
}
