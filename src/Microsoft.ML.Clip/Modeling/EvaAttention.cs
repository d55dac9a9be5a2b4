using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Microsoft.ML.Clip.Modeling;

/// <summary>
/// timm's <c>EvaAttention</c> as EVA02-CLIP builds it: separate <c>q_proj</c> and <c>v_proj</c> with bias and
/// <c>k_proj</c> without, the 2-D rotary embedding applied to the queries and keys of the patch tokens (not the
/// class token), and a LayerNorm <c>norm</c> (timm's <c>scale_attn_inner</c>) before the output projection
/// <c>proj</c>. The second input of <see cref="forward"/> is the rotary table (<see cref="RotaryEmbedding2d"/>).
/// </summary>
internal sealed partial class EvaAttention : nn.Module<Tensor, Tensor?, Tensor>, IAttentionLayer, IOnnxAttention
{
    private readonly long _width;
    private readonly long _heads;
    private readonly int _prefixTokens;
    private readonly double _scale;

    private readonly Linear q_proj;
    private readonly Linear k_proj;
    private readonly Linear v_proj;
    private readonly ClipLayerNorm norm;
    private readonly Linear proj;

    /// <summary>Creates the layer.</summary>
    /// <param name="width">Features.</param>
    /// <param name="heads">Heads.</param>
    /// <param name="prefixTokens">Tokens in front of the patches that the rotary embedding leaves alone (the class token).</param>
    /// <param name="device">Parameter device.</param>
    /// <param name="dtype">Parameter dtype.</param>
    public EvaAttention(long width, long heads, int prefixTokens, Device? device, ScalarType? dtype) : base(nameof(EvaAttention))
    {
        _width = width;
        _heads = heads;
        _prefixTokens = prefixTokens;
        _scale = AttentionKernel.Scale(width, heads);
        q_proj = nn.Linear(width, width, hasBias: true, device: device, dtype: dtype);
        k_proj = nn.Linear(width, width, hasBias: false, device: device, dtype: dtype);
        v_proj = nn.Linear(width, width, hasBias: true, device: device, dtype: dtype);
        norm = new ClipLayerNorm(width, ClipLayerNorm.TimmEps, device, dtype);
        proj = nn.Linear(width, width, hasBias: true, device: device, dtype: dtype);
        RegisterComponents();
    }

    /// <inheritdoc/>
    public bool UseFusedAttention { get; set; }

    /// <summary>The output projection.</summary>
    public Linear Proj => proj;

    /// <summary>Attends <paramref name="x"/> [N, L, width] to itself, rotating patch queries and keys by <paramref name="rope"/>.</summary>
    public override Tensor forward(Tensor x, Tensor? rope)
    {
        using var scope = NewDisposeScope();
        var q = AttentionKernel.SplitHeads(q_proj.forward(x), _heads);
        var k = AttentionKernel.SplitHeads(k_proj.forward(x), _heads);
        var v = AttentionKernel.SplitHeads(v_proj.forward(x), _heads);
        if (rope is not null)
        {
            q = Rotate(q, rope);
            k = Rotate(k, rope);
        }
        var context = AttentionKernel.MergeHeads(AttentionKernel.Attend(q, k, v, null, _scale, UseFusedAttention));
        return proj.forward(norm.forward(context)).MoveToOuterDisposeScope();
    }

    private Tensor Rotate(Tensor x, Tensor rope)
    {
        long tokens = x.shape[2];
        var patches = RotaryEmbedding2d.Apply(x.narrow(2, _prefixTokens, tokens - _prefixTokens), rope);
        return _prefixTokens == 0 ? patches : cat([x.narrow(2, 0, _prefixTokens), patches], 2);
    }
}
