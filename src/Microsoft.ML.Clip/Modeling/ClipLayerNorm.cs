using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace Microsoft.ML.Clip.Modeling;

/// <summary>
/// Layer normalisation over the last dimension that always computes in fp32 (fp64 for fp64 inputs) and
/// returns the input's dtype, as open_clip's <c>LayerNorm</c> / <c>LayerNormFp32</c>: for fp32 models this is
/// exactly <c>F.layer_norm</c>; for bf16 activations the statistics are not computed in bf16.
/// Parameters: <c>weight</c> (ones) and <c>bias</c> (zeros).
/// </summary>
internal sealed partial class ClipLayerNorm : nn.Module<Tensor, Tensor>
{
    private readonly long[] _shape;
    private readonly double _eps;

    // Field names are the state-dict names.
    private Parameter weight;
    private Parameter bias;

    /// <summary>PyTorch's default epsilon, open_clip's unless a config's <c>norm_kwargs</c> says otherwise.</summary>
    public const double DefaultEps = 1e-5;

    /// <summary>timm's epsilon (its <c>LayerNorm</c> and the ViT's <c>partial(nn.LayerNorm, eps=1e-6)</c>).</summary>
    public const double TimmEps = 1e-6;

    /// <summary>Creates a layer norm over <paramref name="width"/> features.</summary>
    public ClipLayerNorm(long width, double eps = DefaultEps, Device? device = null, ScalarType? dtype = null)
        : base(nameof(ClipLayerNorm))
    {
        _shape = [width];
        _eps = eps;
        weight = new Parameter(ones(width, dtype ?? ScalarType.Float32, device));
        bias = new Parameter(zeros(width, dtype ?? ScalarType.Float32, device));
        RegisterComponents();
        this.DetachFromDisposeScopes();
    }

    /// <summary>The scale parameter.</summary>
    public Parameter Weight => weight;

    /// <summary>The shift parameter.</summary>
    public Parameter Bias => bias;

    /// <inheritdoc/>
    public override Tensor forward(Tensor x) => forward(x, x.dtype);

    /// <summary>Normalises <paramref name="x"/> and returns the result in <paramref name="output"/> (the dtype of the
    /// layer that reads it: a block's bf16 matrix products read the norm of its fp32 residual stream).</summary>
    public Tensor forward(Tensor x, ScalarType output)
    {
        var compute = x.dtype == ScalarType.Float64 ? ScalarType.Float64 : ScalarType.Float32;
        if (x.dtype == compute && weight.dtype == compute && output == compute)
            return F.layer_norm(x, _shape, weight, bias, _eps);
        using var scope = NewDisposeScope();
        var y = F.layer_norm(x.to(compute), _shape, weight.to(compute), bias.to(compute), _eps).to(output);
        return y.MoveToOuterDisposeScope();
    }
}
