using System;
using Microsoft.ML.Clip.Torch;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Clip.Modeling;

/// <summary>
/// A pre-LayerNorm transformer block as open_clip's <c>ResidualAttentionBlock</c>:
/// <c>x + attn(ln_1(x))</c>, then <c>x + mlp(ln_2(x))</c>. State-dict names: <c>ln_1</c>, <c>attn.*</c>,
/// <c>ln_2</c>, <c>mlp.c_fc</c>, <c>mlp.c_proj</c>.
/// </summary>
internal sealed partial class ResidualAttentionBlock : nn.Module<Tensor, Tensor?, Tensor>
{
    private MultiheadSelfAttention attn;
    private ClipLayerNorm ln_1;
    private Mlp mlp;
    private ClipLayerNorm ln_2;

    /// <summary>Creates a block of <paramref name="width"/> features and <paramref name="heads"/> heads.</summary>
    public ResidualAttentionBlock(long width, long heads, double mlpRatio, bool quickGelu, Device? device = null, ScalarType? dtype = null)
        : base(nameof(ResidualAttentionBlock))
    {
        attn = new MultiheadSelfAttention(width, heads, device, dtype);
        ln_1 = new ClipLayerNorm(width, device: device, dtype: dtype);
        // open_clip: mlp_width = int(width * mlp_ratio), i.e. truncation.
        mlp = new Mlp(width, (long)Math.Truncate(width * mlpRatio), quickGelu, device, dtype);
        ln_2 = new ClipLayerNorm(width, device: device, dtype: dtype);
        RegisterComponents();
    }

    /// <summary>The attention layer.</summary>
    public MultiheadSelfAttention Attention => attn;

    /// <summary>The feed-forward layer.</summary>
    public Mlp Mlp => mlp;

    /// <summary>Applies the block to <paramref name="x"/> [N, L, width], the residual stream (fp32 in a bf16 tower:
    /// see <see cref="ResidualStream"/>); attention and MLP compute in the weights' dtype.</summary>
    public override Tensor forward(Tensor x, Tensor? attnMask)
    {
        using var scope = NewDisposeScope();
        var compute = attn.InProjWeight.dtype;
        var h = ScalarSafe.Add(x, attn.forward(ln_1.forward(x, compute), attnMask));
        var y = ScalarSafe.Add(h, mlp.forward(ln_2.forward(h, compute)));
        return y.MoveToOuterDisposeScope();
    }
}
