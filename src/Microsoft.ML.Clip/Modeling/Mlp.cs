using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Microsoft.ML.Clip.Modeling;

/// <summary>
/// The transformer feed-forward block, <c>c_fc → GELU/QuickGELU → c_proj</c>, with open_clip's names
/// (<c>mlp.c_fc</c>, <c>mlp.c_proj</c>).
/// </summary>
internal sealed partial class Mlp : nn.Module<Tensor, Tensor>
{
    private Linear c_fc;
    private nn.Module<Tensor, Tensor> gelu;
    private Linear c_proj;

    /// <summary>Creates the block: <paramref name="width"/> → <paramref name="hiddenWidth"/> → <paramref name="width"/>.</summary>
    public Mlp(long width, long hiddenWidth, bool quickGelu, Device? device = null, ScalarType? dtype = null)
        : base(nameof(Mlp))
    {
        c_fc = nn.Linear(width, hiddenWidth, hasBias: true, device: device, dtype: dtype);
        gelu = QuickGelu.Create(quickGelu);
        c_proj = nn.Linear(hiddenWidth, width, hasBias: true, device: device, dtype: dtype);
        RegisterComponents();
    }

    /// <summary>The expanding layer.</summary>
    public Linear Fc => c_fc;

    /// <summary>The contracting layer.</summary>
    public Linear Proj => c_proj;

    /// <inheritdoc/>
    public override Tensor forward(Tensor x)
    {
        using var h = c_fc.forward(x);
        using var a = gelu.forward(h);
        return c_proj.forward(a);
    }
}
