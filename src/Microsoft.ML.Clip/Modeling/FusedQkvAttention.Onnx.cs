using Microsoft.ML.Clip.Onnx;

namespace Microsoft.ML.Clip.Modeling;

internal sealed partial class FusedQkvAttention
{
    /// <summary>Emits softmax(q kᵀ/√d) v through the packed <c>qkv</c> projection, then <c>proj</c>.</summary>
    public string EmitOnnx(OnnxGraph graph, string x, string? extra, string name)
    {
        string Heads(int index, string part, bool keys = false) =>
            graph.PackedHeads(x, qkv.weight!, qkv.bias!, index, _heads, $"{name}_{part}", keys);
        var context = graph.Attention(Heads(0, "q"), Heads(1, "k", keys: true), Heads(2, "v"), _scale, _width, name);
        return graph.Linear(context, proj, name + "_proj");
    }
}
