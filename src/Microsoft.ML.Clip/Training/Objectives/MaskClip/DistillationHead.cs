using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Microsoft.ML.Clip.Training.Objectives.MaskClip;

/// <summary>
/// MaskCLIP's small projection head on patch tokens: LayerNorm then Linear to K prototype logits. The student's
/// copy is trained; the teacher's is its EMA.
/// </summary>
internal sealed class DistillationHead : nn.Module<Tensor, Tensor>
{
    private readonly LayerNorm norm;
    private readonly Linear proj;

    /// <summary>A head from <paramref name="width"/> features to <paramref name="prototypes"/> logits (float32).</summary>
    public DistillationHead(long width, long prototypes, Device? device = null) : base(nameof(DistillationHead))
    {
        norm = nn.LayerNorm(width, device: device);
        proj = nn.Linear(width, prototypes, device: device);
        RegisterComponents();
    }

    /// <summary>Prototype logits [..., K] of token features [..., width] (computed in float32).</summary>
    public override Tensor forward(Tensor tokens)
    {
        using var scope = NewDisposeScope();
        return proj.forward(norm.forward(tokens.to(ScalarType.Float32))).MoveToOuterDisposeScope();
    }
}
