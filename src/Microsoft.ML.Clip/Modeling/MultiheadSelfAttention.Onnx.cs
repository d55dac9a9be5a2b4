using Microsoft.ML.Clip.Onnx;

namespace Microsoft.ML.Clip.Modeling;

internal sealed partial class MultiheadSelfAttention
{
    /// <summary>
    /// Emits softmax(q kᵀ/√d + mask) v with the same order of operations as the explicit <see cref="forward"/>
    /// (q is scaled before the product); the softmax computes in fp32.
    /// </summary>
    /// <param name="graph">The graph.</param>
    /// <param name="x">Activations [N, L, width].</param>
    /// <param name="mask">An fp32 additive mask [L, L], or null.</param>
    /// <param name="name">Prefix of the emitted names.</param>
    public string EmitOnnx(OnnxGraph graph, string x, string? mask, string name)
    {
        string Heads(int index, string part, bool keys = false) =>
            graph.PackedHeads(x, in_proj_weight, in_proj_bias, index, _heads, $"{name}_{part}", keys);
        var context = graph.Attention(Heads(0, "q"), Heads(1, "k", keys: true), Heads(2, "v"), _scale, _width, name, mask);
        return graph.Linear(context, out_proj, name + "_out_proj");
    }
}
