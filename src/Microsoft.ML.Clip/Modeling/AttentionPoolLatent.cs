using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Microsoft.ML.Clip.Modeling;

/// <summary>
/// timm's <c>AttentionPoolLatent</c> (the ViT's <c>global_pool="map"</c> head, SigLIP): one learned query
/// <c>latent</c> [1, 1, width] projected by <c>q</c> attends, over all heads, to the tokens projected by <c>kv</c>;
/// the result goes through <c>proj</c>, then <c>x + mlp(norm(x))</c>. Maps [N, L, width] to [N, width].
/// </summary>
internal sealed partial class AttentionPoolLatent : nn.Module<Tensor, Tensor>, IAttentionLayer
{
    private readonly long _width;
    private readonly long _heads;
    private readonly double _scale;

    private Parameter latent;
    private readonly Linear q;
    private readonly Linear kv;
    private readonly Linear proj;
    private readonly ClipLayerNorm norm;
    private readonly Mlp mlp;

    /// <summary>Creates the head.</summary>
    public AttentionPoolLatent(long width, long heads, long hiddenWidth, MlpActivation activation, Device? device, ScalarType? dtype)
        : base(nameof(AttentionPoolLatent))
    {
        _width = width;
        _heads = heads;
        _scale = AttentionKernel.Scale(width, heads);
        latent = new Parameter(zeros([1, 1, width], dtype ?? ScalarType.Float32, device));
        q = nn.Linear(width, width, hasBias: true, device: device, dtype: dtype);
        kv = nn.Linear(width, 2 * width, hasBias: true, device: device, dtype: dtype);
        proj = nn.Linear(width, width, hasBias: true, device: device, dtype: dtype);
        norm = new ClipLayerNorm(width, ClipLayerNorm.TimmEps, device, dtype);
        mlp = new Mlp(width, hiddenWidth, activation, device, dtype, "fc1", "fc2");
        RegisterComponents();
    }

    /// <summary>The learned query [1, 1, width].</summary>
    public Parameter Latent => latent;

    /// <inheritdoc/>
    public bool UseFusedAttention { get; set; }

    /// <summary>Pools <paramref name="x"/> [N, L, width] into [N, width].</summary>
    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        long n = x.shape[0];
        var query = AttentionKernel.SplitHeads(q.forward(latent.to(x.dtype).expand(n, 1, _width)), _heads); // [N, H, 1, Dh]
        var keysValues = AttentionKernel.SplitPacked(kv.forward(x), 2, _heads);                           // [2, N, H, L, Dh]
        var context = AttentionKernel.Attend(query, keysValues[0], keysValues[1], null, _scale, UseFusedAttention);
        var pooled = proj.forward(AttentionKernel.MergeHeads(context));                                    // [N, 1, width]
        pooled = Torch.ScalarSafe.Add(pooled, mlp.forward(norm.forward(pooled)));
        return pooled.select(1, 0).MoveToOuterDisposeScope();
    }
}
