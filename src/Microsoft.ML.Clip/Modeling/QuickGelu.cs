using Microsoft.ML.Clip.Torch;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Clip.Modeling;

/// <summary>
/// OpenAI's QuickGELU, <c>x · σ(1.702 x)</c>: the activation the original CLIP weights were trained with.
/// Using exact GELU with those weights shifts the embeddings, so configs say which one (<c>quick_gelu</c>).
/// </summary>
internal sealed partial class QuickGelu : nn.Module<Tensor, Tensor>
{
    /// <summary>Creates the activation (no parameters).</summary>
    public QuickGelu() : base(nameof(QuickGelu)) { }

    /// <inheritdoc/>
    public override Tensor forward(Tensor x)
    {
        using var scaled = ScalarSafe.Mul(x, 1.702);
        using var gate = scaled.sigmoid();
        return x * gate;
    }
}
