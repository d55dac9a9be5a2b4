using System;
using Microsoft.ML.Clip.Modeling;
using Microsoft.ML.Clip.Torch;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace Microsoft.ML.Clip.Training.Objectives.Slip;

/// <summary>
/// SimCLR's NT-Xent loss (Chen et al., 2020): for 2B L2-normalized projections of two views, each view's
/// positive is the other view of the same image and the 2B − 2 other projections are its negatives;
/// cross-entropy of the similarities / τ, the similarity to itself excluded, averaged over all 2B views.
/// </summary>
internal static class SimClrLoss
{
    /// <summary>The loss, a 0-dim fp32 tensor.</summary>
    /// <param name="z1">Projections of the first views [B, D] (normalized here).</param>
    /// <param name="z2">Projections of the second views [B, D].</param>
    /// <param name="temperature">τ.</param>
    public static Tensor Compute(Tensor z1, Tensor z2, double temperature)
    {
        if (z1.dim() != 2 || !z1.shape.AsSpan().SequenceEqual(z2.shape))
            throw new ArgumentException($"Expected two views [B, D] of the same shape, got [{string.Join(", ", z1.shape)}] and [{string.Join(", ", z2.shape)}].");
        using var scope = NewDisposeScope();
        long b = z1.shape[0];
        var z = F.normalize(cat([z1.to(ScalarType.Float32), z2.to(ScalarType.Float32)], 0), p: 2, dim: 1);
        var similarity = ScalarSafe.Div(z.matmul(z.t()), temperature);
        // A large negative on the diagonal (exp underflows to 0): a view is never its own candidate.
        var self = ScalarSafe.Mul(eye(2 * b, dtype: ScalarType.Float32, device: z.device), -1e9);
        var logits = ScalarSafe.Add(similarity, self);
        var first = ScalarSafe.Arange(b, 2 * b, ScalarType.Int64, z.device);
        var second = ScalarSafe.Arange(0, b, ScalarType.Int64, z.device);
        var targets = cat([first, second], 0);
        return F.cross_entropy(logits, targets).MoveToOuterDisposeScope();
    }
}
