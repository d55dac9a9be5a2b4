using System;
using Microsoft.ML.Clip.Torch;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace Microsoft.ML.Clip.Modeling;

/// <summary>
/// The attention arithmetic every attention layer of the towers shares: <c>softmax(q·kᵀ·scale + mask)·v</c>, either
/// explicit (q scaled before the product, the order of PyTorch's reference path) or through libtorch's fused
/// scaled_dot_product_attention (whose scale is 1/√head width: callers pass that scale).
/// </summary>
internal static class AttentionKernel
{
    /// <summary>Attends queries [N, H, Lq, Dh] to keys and values [N, H, Lk, Dh]; returns [N, H, Lq, Dh].</summary>
    /// <param name="q">Queries.</param>
    /// <param name="k">Keys.</param>
    /// <param name="v">Values.</param>
    /// <param name="mask">Optional additive mask broadcastable to [N, H, Lq, Lk] (e.g. −∞ above the diagonal).</param>
    /// <param name="scale">The factor on the scores, 1/√Dh.</param>
    /// <param name="fused">Use libtorch's fused kernel instead of the explicit form.</param>
    public static Tensor Attend(Tensor q, Tensor k, Tensor v, Tensor? mask, double scale, bool fused)
    {
        using var scope = NewDisposeScope();
        if (fused)
        {
            // No is_casual here: the mask is passed as given (mask and is_casual together throw in 0.107).
            var fusedMask = mask?.to(q.dtype, q.device);
            return F.scaled_dot_product_attention(q, k, v, attn_mask: fusedMask).MoveToOuterDisposeScope();
        }
        var scores = SafeMatMul.MatMul(ScalarSafe.Mul(q, scale), k.transpose(-2, -1), "attention scores"); // [N, H, Lq, Lk]
        if (mask is not null)
            scores = ScalarSafe.Add(scores, mask.to(scores.dtype, scores.device));
        var weights = scores.softmax(-1);
        return SafeMatMul.MatMul(weights, v, "attention values").MoveToOuterDisposeScope();
    }

    /// <summary>The score scale 1/√(width / heads), after checking that <paramref name="heads"/> divide <paramref name="width"/>.</summary>
    /// <exception cref="ArgumentException">They do not.</exception>
    public static double Scale(long width, long heads) =>
        heads > 0 && width % heads == 0 ? 1.0 / Math.Sqrt(width / heads)
            : throw new ArgumentException($"width ({width}) must be divisible by heads ({heads}).");

    /// <summary>[N, L, H·Dh] → [N, H, L, Dh].</summary>
    public static Tensor SplitHeads(Tensor x, long heads) =>
        x.view(x.shape[0], x.shape[1], heads, x.shape[2] / heads).transpose(1, 2);

    /// <summary>A packed projection [N, L, P·H·Dh] (q, k, v or k, v side by side) → [P, N, H, L, Dh].</summary>
    public static Tensor SplitPacked(Tensor x, int parts, long heads)
    {
        long n = x.shape[0], l = x.shape[1], width = x.shape[2] / parts;
        return x.view(n, l, parts, heads, width / heads).permute(2, 0, 3, 1, 4);
    }

    /// <summary>[N, H, L, Dh] → [N, L, H·Dh].</summary>
    public static Tensor MergeHeads(Tensor context) =>
        context.transpose(1, 2).reshape(context.shape[0], context.shape[2], context.shape[1] * context.shape[3]);
}

/// <summary>An attention layer whose kernel can be switched between the explicit form and libtorch's fused one.</summary>
internal interface IAttentionLayer
{
    /// <summary>Use libtorch's fused scaled_dot_product_attention instead of the explicit softmax form.</summary>
    bool UseFusedAttention { get; set; }
}
