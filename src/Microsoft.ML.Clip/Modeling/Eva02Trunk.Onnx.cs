using Microsoft.ML.Clip.Onnx;
using static TorchSharp.torch;

namespace Microsoft.ML.Clip.Modeling;

internal sealed partial class Eva02Trunk
{
    /// <inheritdoc/>
    protected override string EmitEmbed(OnnxGraph graph, string patches)
    {
        var cls = graph.ExpandToBatch(graph.Weight(cls_token, "visual_cls_token"), patches, _architecture.Width, "visual_class_token");
        return EmitAddPositions(graph, graph.Op("Concat", "visual_with_class", [cls, patches], new OnnxAttribute("axis", 1L)));
    }

    /// <summary>The rotary tables of every patch as one constant [P, 2·Dh].</summary>
    protected override string? EmitBlockInput(OnnxGraph graph)
    {
        using var table = RotaryEmbedding2d.Table(_architecture.GridSize, _architecture.ReferenceGrid, _architecture.Width / _architecture.Heads, CPU);
        return graph.Weight(table, "visual_rope");
    }

    /// <inheritdoc/>
    protected override string EmitPool(OnnxGraph graph, string x) => graph.Select(x, 1, 0, "visual_class_output");
}
