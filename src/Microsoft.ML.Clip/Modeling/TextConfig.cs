using System;

namespace Microsoft.ML.Clip.Modeling;

/// <summary>Architecture of the CLIP text transformer, as open_clip's <c>text_cfg</c>.</summary>
public sealed record TextConfig
{
    /// <summary>Maximum number of tokens, including start and end tokens (open_clip <c>context_length</c>).</summary>
    public int ContextLength { get; init; } = 77;

    /// <summary>Size of the token vocabulary (open_clip <c>vocab_size</c>).</summary>
    public int VocabSize { get; init; } = 49408;

    /// <summary>Transformer width (open_clip <c>width</c>).</summary>
    public int Width { get; init; } = 512;

    /// <summary>Attention heads (open_clip <c>heads</c>).</summary>
    public int Heads { get; init; } = 8;

    /// <summary>Transformer blocks (open_clip <c>layers</c>).</summary>
    public int Layers { get; init; } = 12;

    /// <summary>Hidden width of the MLP relative to <see cref="Width"/> (open_clip <c>mlp_ratio</c>).</summary>
    public double MlpRatio { get; init; } = 4.0;

    /// <summary>
    /// Whether a position attends only to itself and earlier ones, as CLIP (open_clip <c>no_causal_mask</c> false, the
    /// default). SigLIP's text tower attends to every position (false).
    /// </summary>
    public bool CausalMask { get; init; } = true;

    /// <summary>The position pooled into the text embedding (open_clip <c>pool_type</c>).</summary>
    public TextPooling Pooling { get; init; } = TextPooling.EndOfText;

    /// <summary>
    /// Whether the text projection is a Linear layer with bias (open_clip <c>proj_bias</c>, SigLIP; state-dict names
    /// <c>text_projection.weight</c> [embed, width] and <c>text_projection.bias</c>) rather than a bare
    /// [width, embed] matrix <c>text_projection</c>.
    /// </summary>
    public bool ProjectionBias { get; init; }

    /// <summary>Epsilon of the text tower's layer norms (open_clip <c>norm_kwargs.eps</c>; SigLIP uses 1e-6).</summary>
    public double LayerNormEps { get; init; } = 1e-5;

    /// <summary>
    /// GELU with the tanh approximation in the MLPs instead of exact GELU (open_clip <c>act_kwargs.approximate</c>
    /// "tanh", SigLIP 2). Not combinable with <see cref="ClipConfig.QuickGelu"/>.
    /// </summary>
    public bool TanhGelu { get; init; }

    /// <summary>Throws <see cref="ArgumentException"/> naming the first inconsistent field.</summary>
    public void Validate()
    {
        Require(ContextLength > 0, "context_length must be positive.");
        Require(VocabSize > 0, "vocab_size must be positive.");
        Require(Width > 0 && Heads > 0 && Layers > 0, "width, heads and layers must be positive.");
        Require(Width % Heads == 0, $"width ({Width}) must be divisible by heads ({Heads}).");
        Require(MlpRatio > 0, "mlp_ratio must be positive.");
        Require(LayerNormEps > 0 && double.IsFinite(LayerNormEps), $"norm_kwargs.eps must be positive, got {LayerNormEps}.");
        Require(Enum.IsDefined(Pooling), $"pool_type {Pooling} is not a known pooling.");
    }

    private static void Require(bool condition, string message)
    {
        if (!condition) throw new ArgumentException("Invalid text config: " + message);
    }
}
