using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace Microsoft.ML.Clip.Modeling;

/// <summary>
/// timm's <c>SwiGLU</c> with its inner LayerNorm (EVA02's <c>swiglu_mlp</c> and <c>scale_mlp</c>):
/// <c>fc2(norm(silu(fc1_g(x)) · fc1_x(x)))</c>.
/// </summary>
internal sealed partial class SwiGluMlp : nn.Module<Tensor, Tensor>, IOnnxFeedForward
{
    private readonly Linear fc1_g;
    private readonly Linear fc1_x;
    private readonly ClipLayerNorm norm;
    private readonly Linear fc2;

    /// <summary>Creates the block <paramref name="width"/> → <paramref name="hiddenWidth"/> → <paramref name="width"/>.</summary>
    public SwiGluMlp(long width, long hiddenWidth, Device? device, ScalarType? dtype) : base(nameof(SwiGluMlp))
    {
        fc1_g = nn.Linear(width, hiddenWidth, hasBias: true, device: device, dtype: dtype);
        fc1_x = nn.Linear(width, hiddenWidth, hasBias: true, device: device, dtype: dtype);
        norm = new ClipLayerNorm(hiddenWidth, ClipLayerNorm.TimmEps, device, dtype);
        fc2 = nn.Linear(hiddenWidth, width, hasBias: true, device: device, dtype: dtype);
        RegisterComponents();
    }

    /// <summary>The contracting layer.</summary>
    public Linear Fc2 => fc2;

    /// <inheritdoc/>
    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var gated = F.silu(fc1_g.forward(x)).mul(fc1_x.forward(x));
        return fc2.forward(norm.forward(gated)).MoveToOuterDisposeScope();
    }
}
