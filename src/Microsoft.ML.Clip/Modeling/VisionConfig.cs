using System;
using System.Collections.Generic;
using System.Linq;

namespace Microsoft.ML.Clip.Modeling;

/// <summary>
/// Architecture of a CLIP image tower, as open_clip's <c>vision_cfg</c>: a timm trunk when <see cref="Timm"/> is set
/// (EVA02, SigLIP's ViT; the ViT fields below then do not apply), OpenAI's ModifiedResNet when
/// <see cref="ResNetLayers"/> is set, otherwise open_clip's Vision Transformer (depth in <see cref="Layers"/>).
/// </summary>
public sealed record VisionConfig
{
    /// <summary>Side of the square input image in pixels (open_clip <c>image_size</c>).</summary>
    public int ImageSize { get; init; } = 224;

    /// <summary>Number of transformer blocks of a ViT tower (open_clip <c>layers</c> as an integer).</summary>
    public int Layers { get; init; } = 12;

    /// <summary>
    /// Blocks per stage of a ModifiedResNet tower (open_clip <c>layers</c> as a 4-element array); null for a ViT.
    /// </summary>
    public IReadOnlyList<int>? ResNetLayers { get; init; }

    /// <summary>Transformer width of a ViT, or stem width of a ModifiedResNet (open_clip <c>width</c>).</summary>
    public int Width { get; init; } = 768;

    /// <summary>Width of one attention head (open_clip <c>head_width</c>).</summary>
    public int HeadWidth { get; init; } = 64;

    /// <summary>Hidden width of the MLP relative to <see cref="Width"/> (open_clip <c>mlp_ratio</c>).</summary>
    public double MlpRatio { get; init; } = 4.0;

    /// <summary>Side of a square patch of a ViT (open_clip <c>patch_size</c>); unused by ModifiedResNet.</summary>
    public int PatchSize { get; init; } = 16;

    /// <summary>
    /// Fraction of patch tokens dropped at random in training mode (open_clip <c>patch_dropout</c>, FLIP);
    /// 0 disables it. The class token is always kept.
    /// </summary>
    public double PatchDropout { get; init; }

    /// <summary>
    /// A timm image trunk (open_clip <c>timm_model_name</c>, <c>timm_pool</c>, <c>timm_proj</c>) instead of open_clip's
    /// own towers; null for those. <see cref="ImageSize"/> and <see cref="PatchDropout"/> still apply.
    /// </summary>
    public TimmVisionConfig? Timm { get; init; }

    /// <summary>True for a ModifiedResNet tower.</summary>
    public bool IsResNet => ResNetLayers is not null;

    /// <summary>Attention heads: <c>width / head_width</c> for a ViT, <c>width * 32 / head_width</c> for the
    /// ModifiedResNet attention pool (whose feature width is 32 × the stem width), as open_clip.</summary>
    public int Heads => IsResNet ? Width * 32 / HeadWidth : Width / HeadWidth;

    /// <summary>Patches per side of a ViT (<c>image_size / patch_size</c>, or the timm trunk's).</summary>
    public int GridSize => Timm?.Architecture.GridSize ?? ImageSize / PatchSize;

    /// <summary>Throws <see cref="ArgumentException"/> naming the first inconsistent field.</summary>
    public void Validate()
    {
        Require(ImageSize > 0, "image_size must be positive.");
        Require(Width > 0, "width must be positive.");
        Require(HeadWidth > 0, "head_width must be positive.");
        Require(PatchDropout >= 0 && PatchDropout < 1, $"patch_dropout must be in [0, 1), got {PatchDropout}.");
        if (Timm is not null)
        {
            Require(ResNetLayers is null, "a timm tower (timm_model_name) and ModifiedResNet layers exclude each other.");
            return; // the timm architecture is checked with the embedding size by ClipConfig.Validate
        }
        if (IsResNet)
        {
            Require(ResNetLayers!.Count == 4 && ResNetLayers.All(n => n > 0),
                $"a ModifiedResNet needs 4 positive stage depths, got [{string.Join(", ", ResNetLayers)}].");
            Require(ImageSize % 32 == 0, $"a ModifiedResNet needs image_size divisible by 32, got {ImageSize}.");
            Require(Width * 32 % HeadWidth == 0, $"width*32 ({Width * 32}) must be divisible by head_width ({HeadWidth}).");
            return;
        }
        Require(Layers > 0, "layers must be positive.");
        Require(PatchSize > 0, "patch_size must be positive.");
        Require(ImageSize % PatchSize == 0, $"image_size ({ImageSize}) must be divisible by patch_size ({PatchSize}).");
        Require(Width % HeadWidth == 0, $"width ({Width}) must be divisible by head_width ({HeadWidth}).");
        Require(MlpRatio > 0, "mlp_ratio must be positive.");
    }

    /// <inheritdoc/>
    public bool Equals(VisionConfig? other) =>
        other is not null && ImageSize == other.ImageSize && Layers == other.Layers && Width == other.Width
        && HeadWidth == other.HeadWidth && MlpRatio == other.MlpRatio && PatchSize == other.PatchSize
        && PatchDropout == other.PatchDropout && Equals(Timm, other.Timm)
        && (ResNetLayers is null ? other.ResNetLayers is null
            : other.ResNetLayers is not null && ResNetLayers.SequenceEqual(other.ResNetLayers));

    /// <inheritdoc/>
    public override int GetHashCode() =>
        HashCode.Combine(ImageSize, Layers, Width, HeadWidth, MlpRatio, PatchSize, HashCode.Combine(PatchDropout, Timm),
            ResNetLayers is null ? 0 : ResNetLayers.Aggregate(17, (h, n) => h * 31 + n));

    private static void Require(bool condition, string message)
    {
        if (!condition) throw new ArgumentException("Invalid vision config: " + message);
    }
}
