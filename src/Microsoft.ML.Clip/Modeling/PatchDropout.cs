using System;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Clip.Modeling;

/// <summary>
/// FLIP-style patch dropout (open_clip <c>PatchDropout</c>): in training mode keeps a random subset of
/// <c>max(1, ⌊P·(1−p)⌋)</c> of the P patch tokens per image, always keeping the class token in front; identity
/// in eval mode or when p = 0. Applied after the positional embedding, before <c>ln_pre</c>.
/// </summary>
internal sealed class PatchDropout : nn.Module<Tensor, Tensor>
{
    /// <summary>Creates the module with drop probability <paramref name="probability"/> in [0, 1).</summary>
    public PatchDropout(double probability) : base(nameof(PatchDropout))
    {
        if (probability < 0 || probability >= 1)
            throw new ArgumentOutOfRangeException(nameof(probability), probability, "Patch dropout must be in [0, 1).");
        Probability = probability;
    }

    /// <summary>Fraction of patch tokens dropped in training mode.</summary>
    public double Probability { get; }

    /// <summary>Number of patch tokens kept out of <paramref name="patches"/>.</summary>
    public int KeptCount(int patches) => Math.Max(1, (int)(patches * (1 - Probability)));

    /// <summary>Drops patch tokens of <paramref name="x"/> [N, 1 + P, width] (class token first).</summary>
    public override Tensor forward(Tensor x)
    {
        if (!training || Probability == 0) return x.alias();
        using var scope = NewDisposeScope();
        long n = x.shape[0];
        int patches = (int)x.shape[1] - 1;
        // Random scores, top-k: a uniformly random subset per image, as open_clip.
        var keep = randn(n, patches, device: x.device).topk(KeptCount(patches), dim: -1).indexes;
        return KeepPatches(x, keep).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Keeps the class token and the patch tokens at <paramref name="keepIndices"/> [N, K] (indices into the P
    /// patches, 0-based, excluding the class token) of <paramref name="x"/> [N, 1 + P, width].
    /// </summary>
    public static Tensor KeepPatches(Tensor x, Tensor keepIndices)
    {
        if (keepIndices.dim() != 2 || keepIndices.shape[0] != x.shape[0])
            throw new ArgumentException(
                $"keepIndices must have shape [batch, kept] = [{x.shape[0]}, K], got [{string.Join(", ", keepIndices.shape)}].");
        using var scope = NewDisposeScope();
        long n = x.shape[0], width = x.shape[2];
        var index = keepIndices.to(ScalarType.Int64, x.device).unsqueeze(-1).expand(n, keepIndices.shape[1], width);
        var cls = x.narrow(1, 0, 1);
        var patches = x.narrow(1, 1, x.shape[1] - 1).gather(1, index);
        return cat([cls, patches], 1).MoveToOuterDisposeScope();
    }
}
