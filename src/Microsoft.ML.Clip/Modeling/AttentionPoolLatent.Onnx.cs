using Microsoft.ML.Clip.Onnx;
using static TorchSharp.torch;

namespace Microsoft.ML.Clip.Modeling;

internal sealed partial class AttentionPoolLatent
{
    /// <summary>
    /// Emits the pool of <paramref name="x"/> [N, L, width] into [N, width]. The projected query depends on no input:
    /// it is computed here in fp32 and stored as a constant [1, H, 1, Dh] that broadcasts over the batch.
    /// </summary>
    public string EmitOnnx(OnnxGraph graph, string x, string name)
    {
        using var scope = NewDisposeScope();
        Tensor query;
        using (no_grad())
            query = AttentionKernel.SplitHeads(q.forward(latent.detach()), _heads).to(ScalarType.Float32);
        var keys = graph.PackedHeads(x, kv.weight!, kv.bias!, 0, _heads, name + "_k", keys: true);
        var values = graph.PackedHeads(x, kv.weight!, kv.bias!, 1, _heads, name + "_v");
        var context = graph.Attention(graph.Weight(query, name + "_query"), keys, values, _scale, _width, name); // [N, 1, width]
        var pooled = graph.Linear(context, proj, name + "_proj");
        pooled = graph.Add(pooled, mlp.EmitOnnx(graph, norm.EmitOnnx(graph, pooled, name + "_norm"), name + "_mlp"), name + "_residual");
        return graph.Select(pooled, 1, 0, name + "_token");
    }
}
