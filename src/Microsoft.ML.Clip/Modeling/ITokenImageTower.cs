using static TorchSharp.torch;

namespace Microsoft.ML.Clip.Modeling;

/// <summary>
/// An image tower that can also return token-level features and encode a subset of its patches (FLIP).
/// <see cref="VisionTransformer"/> implements it; a convolutional tower need not.
/// </summary>
internal interface ITokenImageTower
{
    /// <summary>Number of patch tokens per image (excluding the class token).</summary>
    int PatchCount { get; }

    /// <summary>Encodes <paramref name="pixels"/> [N, 3, H, W] and returns pooled and token features.</summary>
    /// <param name="pixels">Normalised images; cast to the tower's dtype and device on entry.</param>
    /// <param name="keepPatchIndices">
    /// Optional [N, K] int64 indices of the patches to keep (0 ≤ i &lt; <see cref="PatchCount"/>); the class
    /// token is always kept. When null, the tower's own patch dropout applies (training mode only).
    /// </param>
    /// <param name="projectTokens">Project tokens to the joint embedding space with the pooled projection.</param>
    TowerOutput ForwardTokens(Tensor pixels, Tensor? keepPatchIndices = null, bool projectTokens = true);
}
