using Microsoft.ML.Clip.Onnx;

namespace Microsoft.ML.Clip.Modeling;

internal sealed partial class SigLipTrunk
{
    /// <inheritdoc/>
    protected override string EmitEmbed(OnnxGraph graph, string patches) => EmitAddPositions(graph, patches);

    /// <inheritdoc/>
    protected override string? EmitBlockInput(OnnxGraph graph) => null;

    /// <inheritdoc/>
    protected override string EmitPool(OnnxGraph graph, string x) => attn_pool.EmitOnnx(graph, x, "visual_attn_pool");
}
