using System;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Clip.Modeling;

/// <summary>
/// Builds the image tower a <see cref="VisionConfig"/> describes: a timm trunk (EVA02, SigLIP's ViT) when
/// <see cref="VisionConfig.Timm"/> is set, OpenAI's ModifiedResNet when <see cref="VisionConfig.ResNetLayers"/> is set,
/// else a <see cref="VisionTransformer"/>. Every tower is a
/// <c>Module&lt;Tensor, Tensor&gt;</c> mapping pixels [N, 3, H, W] to embeddings [N, embed_dim]; towers that can
/// return tokens also implement <see cref="ITokenImageTower"/>.
/// </summary>
/// <remarks>
/// The ModifiedResNet tower lives in its own files. It plugs in by implementing the partial method
/// <c>CreateModifiedResNet</c> in another part of this class, e.g.
/// <code>
/// public static partial class ImageTowers
/// {
///     static partial void CreateModifiedResNet(VisionConfig vision, int embedDim, Device? device, ScalarType? dtype,
///         ref nn.Module&lt;Tensor, Tensor&gt;? tower) => tower = new ModifiedResNet(vision, embedDim, device, dtype);
/// }
/// </code>
/// Until such a part is compiled in, the call is removed by the compiler and ResNet configs fail with a clear
/// <see cref="NotSupportedException"/>.
/// </remarks>
internal static partial class ImageTowers
{
    /// <summary>The message when a ResNet config is used in a build without the ModifiedResNet tower.</summary>
    internal const string ResNetUnavailable = "ModifiedResNet vision towers are not available in this build.";

    /// <summary>Creates the image tower for <paramref name="vision"/>, projecting to <paramref name="embedDim"/>.</summary>
    /// <param name="vision">The tower architecture.</param>
    /// <param name="embedDim">Output embedding size.</param>
    /// <param name="quickGelu">QuickGELU instead of GELU in transformer MLPs (ignored by ModifiedResNet, which uses ReLU, and by
    /// timm trunks, which use their own activation as open_clip does).</param>
    /// <param name="device">Where the parameters live (null: the default device, normally the CPU).</param>
    /// <param name="dtype">Parameter dtype (null: float32).</param>
    /// <exception cref="NotSupportedException">A ModifiedResNet config in a build without that tower.</exception>
    public static nn.Module<Tensor, Tensor> Create(VisionConfig vision, int embedDim, bool quickGelu, Device? device = null, ScalarType? dtype = null)
    {
        ArgumentNullException.ThrowIfNull(vision);
        vision.Validate();
        if (vision.Timm is { } timm)
            return new TimmVisionTower(timm, embedDim, vision.PatchDropout, device, dtype);
        if (vision.ResNetLayers is null)
            return new VisionTransformer(vision, embedDim, quickGelu, device, dtype);

        nn.Module<Tensor, Tensor>? tower = null;
        CreateModifiedResNet(vision, embedDim, device, dtype, ref tower);
        return tower ?? throw new NotSupportedException(ResNetUnavailable);
    }

    /// <summary>Throws <see cref="ArgumentException"/> unless <paramref name="pixels"/> are floating-point [N, 3, size, size].</summary>
    internal static void CheckPixels(Tensor pixels, int size)
    {
        if (pixels.dim() != 4 || pixels.shape[1] != 3 || pixels.shape[2] != size || pixels.shape[3] != size)
            throw new ArgumentException(
                $"Expected pixels of shape [N, 3, {size}, {size}], got [{string.Join(", ", pixels.shape)}].", nameof(pixels));
        if (!pixels.is_floating_point())
            throw new ArgumentException($"Expected floating-point (normalised) pixels, got {pixels.dtype}.", nameof(pixels));
    }

    /// <summary>True when this build can create ModifiedResNet towers.</summary>
    public static bool ModifiedResNetAvailable
    {
        get
        {
            bool available = false;
            ReportModifiedResNet(ref available);
            return available;
        }
    }

    /// <summary>Hook filled in by the ModifiedResNet part of this class; leaves <paramref name="tower"/> null when absent.</summary>
    static partial void CreateModifiedResNet(VisionConfig vision, int embedDim, Device? device, ScalarType? dtype, ref nn.Module<Tensor, Tensor>? tower);

    /// <summary>Hook the ModifiedResNet part implements to set <paramref name="available"/> to true.</summary>
    static partial void ReportModifiedResNet(ref bool available);
}
