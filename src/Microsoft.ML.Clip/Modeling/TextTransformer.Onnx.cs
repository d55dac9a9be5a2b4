using Microsoft.ML.Clip.Onnx;
using Microsoft.ML.Clip.Torch;
using static TorchSharp.torch;

namespace Microsoft.ML.Clip.Modeling;

internal sealed partial class TextTransformer
{
    /// <summary>
    /// Emits <see cref="forward"/>: int64 token ids [N, <paramref name="length"/>] → projected features [N, embed] in the
    /// graph's compute precision, with the config's mask and pooling.
    /// </summary>
    public string EmitOnnx(OnnxGraph graph, string ids, long length)
    {
        long width = Config.Width;
        using var scope = NewDisposeScope();
        var x = graph.Op("Gather", "text_token_embedding", [graph.Weight(token_embedding.weight!, "token_embedding"), ids], new OnnxAttribute("axis", 0L));
        x = graph.Add(x, graph.Weight(PositionalEmbedding.detach().narrow(0, 0, length), "positional_embedding"), "text_positioned");
        // The causal mask, −∞ above the diagonal, as Encode builds it; fp32 because the softmax adds it in fp32.
        var mask = Config.CausalMask
            ? graph.Float32(ScalarSafe.Full([length, length], float.NegativeInfinity, ScalarType.Float32, CPU).triu_(1), "text_causal_mask")
            : null;
        x = transformer.EmitOnnx(graph, x, mask, "text_transformer");
        x = ln_final.EmitOnnx(graph, x, "ln_final");
        var pooled = Config.Pooling switch
        {
            TextPooling.Last => graph.Select(x, 1, length - 1, "text_pooled"),
            TextPooling.First => graph.Select(x, 1, 0, "text_pooled"),
            _ => EmitEndOfTextPooling(graph, x, ids, width),
        };
        return _projectionLayer is not null
            ? graph.Linear(pooled, _projectionLayer, "text_projection")
            : graph.MatMul(pooled, graph.Weight(ProjectionMatrix!, "text_projection"), "text_features_compute");
    }

    // End-of-text pooling: ArgMax over the ids as floats (exact below 2^24; ArgMax has no int64 kernel everywhere).
    private static string EmitEndOfTextPooling(OnnxGraph graph, string x, string ids, long width)
    {
        var eot = graph.Op("ArgMax", "text_eot", [graph.Cast(ids, OnnxElementType.Float, "text_ids_float")], new("axis", 1L), new("keepdims", 1L));
        var index = graph.Op("Expand", "text_eot_index", [graph.Reshape(eot, "text_eot_column", -1, 1, 1), graph.Int64s("text_eot_width", 1, 1, width)]);
        return graph.Reshape(graph.Op("GatherElements", "text_eot_features", [x, index], new OnnxAttribute("axis", 1L)), "text_pooled", -1, width);
    }
}
