using Microsoft.ML.Clip.Onnx;

namespace Microsoft.ML.Clip.Modeling;

internal sealed partial class AttentionPool2d
{
    /// <summary>
    /// Emits the pooling head as <see cref="forward"/> computes it: mean token prepended, positional embedding, the
    /// mean token's query against every token (softmax in fp32), output projection.
    /// </summary>
    public string EmitOnnx(OnnxGraph graph, string x, string name)
    {
        long heads = NumHeads, headDim = EmbedDim / NumHeads, c = EmbedDim;
        var tokens = graph.Transpose(graph.Reshape(x, name + "_flat", 0, c, -1), name + "_tokens", 0, 2, 1); // [N, HW, C]
        var mean = graph.ReduceMean(tokens, name + "_mean", axis: 1);
        tokens = graph.Op("Concat", name + "_with_mean", [mean, tokens], new OnnxAttribute("axis", 1L));
        tokens = graph.Add(tokens, graph.Weight(positional_embedding, name + "_positional_embedding"), name + "_positioned");

        var q = graph.Linear(graph.Slice(tokens, 1, 0, 1, name + "_query_token"), q_proj, name + "_q_proj");
        q = graph.Transpose(graph.Reshape(q, name + "_q_heads", 0, 1, heads, headDim), name + "_q_t", 0, 2, 1, 3);       // [N, h, 1, d]
        q = graph.Op("Div", name + "_q_scaled", [q, graph.Scalar(System.Math.Sqrt(headDim), name + "_sqrt_d")]);
        var k = graph.Transpose(graph.Reshape(graph.Linear(tokens, k_proj, name + "_k_proj"), name + "_k_heads", 0, -1, heads, headDim), name + "_k_t", 0, 2, 3, 1); // [N, h, d, L]
        var v = graph.Transpose(graph.Reshape(graph.Linear(tokens, v_proj, name + "_v_proj"), name + "_v_heads", 0, -1, heads, headDim), name + "_v_t", 0, 2, 1, 3); // [N, h, L, d]
        var weights = graph.Softmax(graph.MatMul(q, k, name + "_scores"), name + "_softmax");
        var pooled = graph.Reshape(graph.MatMul(weights, v, name + "_context"), name + "_pooled", -1, c);
        return graph.Linear(pooled, c_proj, name + "_c_proj");
    }
}
