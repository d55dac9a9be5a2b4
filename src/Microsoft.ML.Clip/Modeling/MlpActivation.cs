using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Clip.Modeling;

/// <summary>The activation inside a transformer MLP.</summary>
internal enum MlpActivation
{
    /// <summary>Exact (erf) GELU, open_clip's and timm's <c>nn.GELU</c>.</summary>
    Gelu,

    /// <summary>OpenAI's QuickGELU, <c>x·σ(1.702x)</c> (open_clip <c>quick_gelu</c>).</summary>
    QuickGelu,

    /// <summary>GELU with the tanh approximation (open_clip <c>act_kwargs: {approximate: "tanh"}</c>, SigLIP 2's text tower).</summary>
    GeluTanh,
}

internal static class MlpActivations
{
    /// <summary>The activation module for <paramref name="activation"/>.</summary>
    public static nn.Module<Tensor, Tensor> Create(MlpActivation activation) => activation switch
    {
        MlpActivation.QuickGelu => new QuickGelu(),
        MlpActivation.GeluTanh => nn.GELU(TorchSharp.Modules.GELU.Approximate.tanh),
        _ => nn.GELU(),
    };

    /// <summary>The text tower's activation of a config: QuickGELU, tanh GELU or exact GELU.</summary>
    public static MlpActivation ForText(ClipConfig config) =>
        config.QuickGelu ? MlpActivation.QuickGelu : config.Text.TanhGelu ? MlpActivation.GeluTanh : MlpActivation.Gelu;
}
