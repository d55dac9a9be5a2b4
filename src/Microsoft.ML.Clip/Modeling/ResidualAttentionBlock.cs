using System;
using Microsoft.ML.Clip.Torch;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Clip.Modeling;

/// <summary>
/// A pre-LayerNorm transformer block: <c>x + attn(norm1(x), extra)</c>, then <c>x + mlp(norm2(x))</c>, where
/// <c>extra</c> is what the attention takes besides its input (an additive mask, EVA02's rotary tables, or null).
/// open_clip's <c>ResidualAttentionBlock</c> names its norms <c>ln_1</c> / <c>ln_2</c>; timm's <c>Block</c> and
/// <c>EvaBlock</c> name them <c>norm1</c> / <c>norm2</c>; both name the others <c>attn</c> and <c>mlp</c>.
/// </summary>
internal sealed partial class ResidualAttentionBlock : nn.Module<Tensor, Tensor?, Tensor>
{
    private readonly ClipLayerNorm ln_1;
    private readonly nn.Module<Tensor, Tensor?, Tensor> attn;
    private readonly ClipLayerNorm ln_2;
    private readonly nn.Module<Tensor, Tensor> mlp;

    /// <summary>Assembles a block from its parts.</summary>
    /// <param name="norm1">The norm before the attention.</param>
    /// <param name="attention">The attention (an <see cref="IOnnxAttention"/> for export).</param>
    /// <param name="norm2">The norm before the MLP.</param>
    /// <param name="mlp">The MLP (an <see cref="IOnnxFeedForward"/> for export).</param>
    /// <param name="timmNames">Name the norms <c>norm1</c>/<c>norm2</c> (timm) instead of <c>ln_1</c>/<c>ln_2</c> (open_clip).</param>
    public ResidualAttentionBlock(ClipLayerNorm norm1, nn.Module<Tensor, Tensor?, Tensor> attention, ClipLayerNorm norm2,
                                  nn.Module<Tensor, Tensor> mlp, bool timmNames)
        : base(nameof(ResidualAttentionBlock))
    {
        ln_1 = norm1;
        attn = attention;
        ln_2 = norm2;
        this.mlp = mlp;
        register_module(timmNames ? "norm1" : "ln_1", ln_1);
        register_module("attn", attn);
        register_module(timmNames ? "norm2" : "ln_2", ln_2);
        register_module("mlp", this.mlp);
    }

    /// <summary>open_clip's block of <paramref name="width"/> features: <see cref="MultiheadSelfAttention"/> and <see cref="Modeling.Mlp"/>.</summary>
    public static ResidualAttentionBlock OpenClip(long width, long heads, double mlpRatio, MlpActivation activation, Device? device = null,
                                                  ScalarType? dtype = null, double layerNormEps = ClipLayerNorm.DefaultEps) =>
        new(new ClipLayerNorm(width, layerNormEps, device, dtype),
            new MultiheadSelfAttention(width, heads, device, dtype),
            new ClipLayerNorm(width, layerNormEps, device, dtype),
            // open_clip: mlp_width = int(width * mlp_ratio), i.e. truncation.
            new Mlp(width, (long)Math.Truncate(width * mlpRatio), activation, device, dtype),
            timmNames: false);

    /// <summary>The attention layer.</summary>
    public nn.Module<Tensor, Tensor?, Tensor> Attention => attn;

    /// <summary>The feed-forward layer.</summary>
    public nn.Module<Tensor, Tensor> Mlp => mlp;

    /// <summary>Everything is registered in the constructor under the owner's names.</summary>
    protected override void RegisterComponents() { }

    /// <summary>Applies the block to <paramref name="x"/> [N, L, width], the residual stream (fp32 in a bf16 tower:
    /// see <see cref="ResidualStream"/>); attention and MLP compute in the weights' dtype.</summary>
    public override Tensor forward(Tensor x, Tensor? extra)
    {
        using var scope = NewDisposeScope();
        var compute = ResidualStream.ComputeDType(mlp);
        var h = ScalarSafe.Add(x, attn.forward(ln_1.forward(x, compute), extra));
        var y = ScalarSafe.Add(h, mlp.forward(ln_2.forward(h, compute)));
        return y.MoveToOuterDisposeScope();
    }
}
