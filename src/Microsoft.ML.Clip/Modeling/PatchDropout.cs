using System;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Clip.Modeling;

/// <summary>
/// FLIP-style patch dropout (open_clip's and timm's <c>PatchDropout</c>): in training mode keeps a random subset of
/// <c>max(1, ⌊P·(1−p)⌋)</c> of the P patch tokens per image, always keeping the prefix tokens (a class token) in
/// front; identity in eval mode or when p = 0. Applied after the positional embedding.
/// </summary>
internal sealed class PatchDropout : nn.Module<Tensor, Tensor>
{
    /// <summary>Creates the module with drop probability <paramref name="probability"/> in [0, 1).</summary>
    /// <param name="probability">Fraction of patch tokens dropped in training mode.</param>
    /// <param name="prefixTokens">Tokens in front of the patches that are always kept (1: a class token; 0: none, SigLIP).</param>
    public PatchDropout(double probability, int prefixTokens = 1) : base(nameof(PatchDropout))
    {
        if (probability < 0 || probability >= 1)
            throw new ArgumentOutOfRangeException(nameof(probability), probability, "Patch dropout must be in [0, 1).");
        ArgumentOutOfRangeException.ThrowIfNegative(prefixTokens);
        Probability = probability;
        PrefixTokens = prefixTokens;
    }

    /// <summary>Fraction of patch tokens dropped in training mode.</summary>
    public double Probability { get; }

    /// <summary>Tokens kept in front of the patches.</summary>
    public int PrefixTokens { get; }

    /// <summary>Number of patch tokens kept out of <paramref name="patches"/>.</summary>
    public int KeptCount(int patches) => Math.Max(1, (int)(patches * (1 - Probability)));

    /// <summary>
    /// The patches to keep [N, K] (int64 indices into the P patches) in training mode, drawn uniformly per image (random
    /// scores, top-k, as open_clip); null in eval mode or when nothing is dropped.
    /// </summary>
    public Tensor? DrawKeepIndices(long n, int patches, Device device) =>
        !training || Probability == 0 ? null : randn(n, patches, device: device).topk(KeptCount(patches), dim: -1).indexes;

    /// <summary>Drops patch tokens of <paramref name="x"/> [N, prefix + P, width].</summary>
    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var keep = DrawKeepIndices(x.shape[0], (int)x.shape[1] - PrefixTokens, x.device);
        return (keep is null ? x.alias() : KeepPatches(x, keep, PrefixTokens)).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Keeps the <paramref name="prefixTokens"/> leading tokens and the patch tokens at <paramref name="keepIndices"/> [N, K]
    /// (indices into the P patches, 0-based, after the prefix) of <paramref name="x"/> [N, prefix + P, width].
    /// </summary>
    public static Tensor KeepPatches(Tensor x, Tensor keepIndices, int prefixTokens = 1)
    {
        if (keepIndices.dim() != 2 || keepIndices.shape[0] != x.shape[0])
            throw new ArgumentException(
                $"keepIndices must have shape [batch, kept] = [{x.shape[0]}, K], got [{string.Join(", ", keepIndices.shape)}].");
        using var scope = NewDisposeScope();
        long n = x.shape[0], width = x.shape[2];
        var index = keepIndices.to(ScalarType.Int64, x.device).unsqueeze(-1).expand(n, keepIndices.shape[1], width);
        var patches = x.narrow(1, prefixTokens, x.shape[1] - prefixTokens).gather(1, index);
        var kept = prefixTokens == 0 ? patches : cat([x.narrow(1, 0, prefixTokens), patches], 1);
        return kept.MoveToOuterDisposeScope();
    }
}
