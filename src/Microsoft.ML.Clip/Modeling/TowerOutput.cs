using System;
using static TorchSharp.torch;

namespace Microsoft.ML.Clip.Modeling;

/// <summary>
/// What a tower produces when token-level outputs are requested (FILIP-style losses, dense features):
/// the pooled embedding and the per-token features. The caller owns and disposes both tensors.
/// </summary>
public sealed class TowerOutput : IDisposable
{
    /// <summary>Creates an output holding the given tensors.</summary>
    public TowerOutput(Tensor pooled, Tensor tokens)
    {
        Pooled = pooled;
        Tokens = tokens;
    }

    /// <summary>Projected pooled embedding [N, embed_dim] (class token for images, end-of-text token for text).</summary>
    public Tensor Pooled { get; }

    /// <summary>
    /// Token features after the tower's final LayerNorm: [N, L, embed_dim] when projected, [N, L, width] otherwise.
    /// Images: the patch tokens (class token excluded) that were kept; text: every position, padding included
    /// (mask it with the token ids).
    /// </summary>
    public Tensor Tokens { get; }

    /// <inheritdoc/>
    public void Dispose()
    {
        Pooled.Dispose();
        Tokens.Dispose();
    }
}
