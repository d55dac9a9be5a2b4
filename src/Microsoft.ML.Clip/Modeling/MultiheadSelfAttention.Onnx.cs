using Microsoft.ML.Clip.Onnx;
using static TorchSharp.torch;

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
        long headWidth = _width / _heads;
        // [N, L, width] → [N, H, L, Dh] (k: [N, H, Dh, L], ready for the product).
        string Heads(int index, string part, params long[] perm)
        {
            using var w = in_proj_weight.detach().narrow(0, index * _width, _width);
            using var b = in_proj_bias.detach().narrow(0, index * _width, _width);
            var projected = graph.Add(graph.MatMul(x, graph.WeightTransposed(w, $"{name}_{part}_weight"), $"{name}_{part}_matmul"),
                graph.Weight(b, $"{name}_{part}_bias"), $"{name}_{part}");
            return graph.Transpose(graph.Reshape(projected, $"{name}_{part}_heads", 0, 0, _heads, headWidth), $"{name}_{part}_t", perm);
        }
        var q = graph.Mul(Heads(0, "q", 0, 2, 1, 3), graph.Scalar(_scale, name + "_scale"), name + "_q_scaled");
        var k = Heads(1, "k", 0, 2, 3, 1);
        var v = Heads(2, "v", 0, 2, 1, 3);
        var weights = graph.Softmax(graph.MatMul(q, k, name + "_scores"), name + "_softmax", mask);
        var context = graph.Transpose(graph.MatMul(weights, v, name + "_context"), name + "_context_t", 0, 2, 1, 3);
        context = graph.Reshape(context, name + "_context_merged", 0, 0, _width);
        return graph.Linear(context, out_proj, name + "_out_proj");
    }
}
