using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Clip.Modeling;

/// <summary>
/// timm's <c>VisionTransformer</c> as SigLIP and SigLIP 2 build it (<c>vit_base_patch16_siglip_224</c>,
/// <c>vit_so400m_patch14_siglip_224</c>, ...): no class token, a fused biased <c>qkv</c> projection, LayerNorm
/// epsilon 1e-6, and a multi-head attention-pool head (open_clip <c>timm_pool</c> "map": one learned query attends to
/// every patch, then a residual MLP).
/// </summary>
public sealed record SigLipVitArchitecture : TimmTowerArchitecture
{
    /// <summary>GELU with the tanh approximation in every MLP (timm <c>act_layer='gelu_tanh'</c>, some SigLIP 2 towers).</summary>
    public bool TanhGelu { get; init; }

    /// <inheritdoc/>
    public override string Pool => "map";

    internal override TimmTrunk CreateTrunk(int? headOutputs, double patchDropout, Device? device, ScalarType? dtype) =>
        new SigLipTrunk(this, headOutputs, patchDropout, device, dtype);

    /// <summary>The MLP activation.</summary>
    internal MlpActivation Activation => TanhGelu ? MlpActivation.GeluTanh : MlpActivation.Gelu;
}
