using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Microsoft.ML.Clip.Modeling;

/// <summary>
/// The transformer feed-forward block, <c>in → activation → out</c>. Its two layers are named as the owning
/// implementation names them: open_clip's <c>mlp.c_fc</c> / <c>mlp.c_proj</c> (the default) or timm's
/// <c>fc1</c> / <c>fc2</c>.
/// </summary>
internal sealed partial class Mlp : nn.Module<Tensor, Tensor>, IOnnxFeedForward
{
    private readonly Linear c_fc;
    private readonly nn.Module<Tensor, Tensor> gelu;
    private readonly Linear c_proj;

    /// <summary>Creates the block: <paramref name="width"/> → <paramref name="hiddenWidth"/> → <paramref name="width"/>.</summary>
    /// <param name="width">Input and output features.</param>
    /// <param name="hiddenWidth">Hidden features.</param>
    /// <param name="activation">The activation between the layers.</param>
    /// <param name="device">Parameter device.</param>
    /// <param name="dtype">Parameter dtype.</param>
    /// <param name="inName">State-dict name of the expanding layer.</param>
    /// <param name="outName">State-dict name of the contracting layer.</param>
    public Mlp(long width, long hiddenWidth, MlpActivation activation, Device? device = null, ScalarType? dtype = null,
               string inName = "c_fc", string outName = "c_proj")
        : base(nameof(Mlp))
    {
        c_fc = nn.Linear(width, hiddenWidth, hasBias: true, device: device, dtype: dtype);
        gelu = MlpActivations.Create(activation);
        c_proj = nn.Linear(hiddenWidth, width, hasBias: true, device: device, dtype: dtype);
        Activation = activation;
        // Registered by hand: the names depend on the owner (RegisterComponents would use the field names).
        register_module(inName, c_fc);
        register_module("act", gelu);
        register_module(outName, c_proj);
    }

    /// <summary>The activation.</summary>
    public MlpActivation Activation { get; }

    /// <summary>The expanding layer.</summary>
    public Linear Fc => c_fc;

    /// <summary>The contracting layer.</summary>
    public Linear Proj => c_proj;

    /// <summary>Everything is registered in the constructor under the owner's names.</summary>
    protected override void RegisterComponents() { }

    /// <inheritdoc/>
    public override Tensor forward(Tensor x)
    {
        using var h = c_fc.forward(x);
        using var a = gelu.forward(h);
        return c_proj.forward(a);
    }
}
