using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Microsoft.ML.Clip.Modeling;

/// <summary>
/// timm's ViT <c>Attention</c>: one biased Linear <c>qkv</c> [3·width, width] (q, k, v stacked) and the output
/// projection <c>proj</c>. It takes no second input (the block passes null).
/// </summary>
internal sealed partial class FusedQkvAttention : nn.Module<Tensor, Tensor?, Tensor>, IAttentionLayer, IOnnxAttention
{
    private readonly long _width;
    private readonly long _heads;
    private readonly double _scale;

    private readonly Linear qkv;
    private readonly Linear proj;

    /// <summary>Creates the layer.</summary>
    public FusedQkvAttention(long width, long heads, Device? device, ScalarType? dtype) : base(nameof(FusedQkvAttention))
    {
        _width = width;
        _heads = heads;
        _scale = AttentionKernel.Scale(width, heads);
        qkv = nn.Linear(width, 3 * width, hasBias: true, device: device, dtype: dtype);
        proj = nn.Linear(width, width, hasBias: true, device: device, dtype: dtype);
        RegisterComponents();
    }

    /// <inheritdoc/>
    public bool UseFusedAttention { get; set; }

    /// <summary>Attends <paramref name="x"/> [N, L, width] to itself.</summary>
    public override Tensor forward(Tensor x, Tensor? unused)
    {
        using var scope = NewDisposeScope();
        var parts = AttentionKernel.SplitPacked(qkv.forward(x), 3, _heads); // [3, N, H, L, Dh]
        var context = AttentionKernel.Attend(parts[0], parts[1], parts[2], null, _scale, UseFusedAttention);
        return proj.forward(AttentionKernel.MergeHeads(context)).MoveToOuterDisposeScope();
    }
}
