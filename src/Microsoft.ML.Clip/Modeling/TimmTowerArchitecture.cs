using System;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Clip.Modeling;

/// <summary>
/// The constructor arguments of a timm image trunk, as timm's model functions pass them (<c>img_size</c>,
/// <c>patch_size</c>, <c>embed_dim</c>, <c>depth</c>, <c>num_heads</c>, <c>mlp_ratio</c>); each family adds its own.
/// A family is one type: <see cref="Eva02Architecture"/>, <see cref="SigLipVitArchitecture"/>.
/// </summary>
public abstract record TimmTowerArchitecture
{
    /// <summary>Side of the square input image in pixels (timm <c>img_size</c>).</summary>
    public required int ImageSize { get; init; }

    /// <summary>Side of a square patch (timm <c>patch_size</c>).</summary>
    public required int PatchSize { get; init; }

    /// <summary>Transformer width (timm <c>embed_dim</c>).</summary>
    public required int Width { get; init; }

    /// <summary>Transformer blocks (timm <c>depth</c>).</summary>
    public required int Depth { get; init; }

    /// <summary>Attention heads (timm <c>num_heads</c>).</summary>
    public required int Heads { get; init; }

    /// <summary>MLP hidden width relative to <see cref="Width"/>, truncated as timm does (timm <c>mlp_ratio</c>).</summary>
    public double MlpRatio { get; init; } = 4.0;

    /// <summary>Patches per side.</summary>
    public int GridSize => ImageSize / PatchSize;

    /// <summary>The timm pooling this family is built with (open_clip <c>timm_pool</c>): the only one accepted in configs.</summary>
    public abstract string Pool { get; }

    /// <summary>Throws <see cref="ArgumentException"/> naming the first inconsistent argument.</summary>
    public virtual void Validate()
    {
        Require(ImageSize > 0 && PatchSize > 0 && Width > 0 && Depth > 0 && Heads > 0,
            "img_size, patch_size, embed_dim, depth and num_heads must be positive.");
        Require(ImageSize % PatchSize == 0, $"img_size ({ImageSize}) must be divisible by patch_size ({PatchSize}).");
        Require(Width % Heads == 0, $"embed_dim ({Width}) must be divisible by num_heads ({Heads}).");
        Require(MlpRatio > 0 && (int)(Width * MlpRatio) > 0, $"mlp_ratio must be positive, got {MlpRatio}.");
    }

    /// <summary>Builds the trunk (<c>visual.trunk</c>).</summary>
    /// <param name="headOutputs">Outputs of the trunk's classifier head used as projection, or null for none.</param>
    /// <param name="patchDropout">Fraction of patch tokens dropped in training mode (timm <c>patch_drop_rate</c>).</param>
    /// <param name="device">Parameter device.</param>
    /// <param name="dtype">Parameter dtype.</param>
    internal abstract TimmTrunk CreateTrunk(int? headOutputs, double patchDropout, Device? device, ScalarType? dtype);

    /// <summary>Throws <see cref="ArgumentException"/> naming the family and <paramref name="message"/> unless <paramref name="condition"/>.</summary>
    private protected void Require(bool condition, string message)
    {
        if (!condition) throw new ArgumentException($"Invalid {GetType().Name}: {message}");
    }

    /// <summary>timm's MLP hidden width, <c>int(width · mlp_ratio)</c>.</summary>
    internal long HiddenWidth => (long)Math.Truncate(Width * MlpRatio);
}
