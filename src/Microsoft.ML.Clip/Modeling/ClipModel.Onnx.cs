using System;
using Microsoft.ML.Clip.Onnx;
using Microsoft.ML.Clip.Torch;
using static TorchSharp.torch;

namespace Microsoft.ML.Clip.Modeling;

public sealed partial class ClipModel
{
    /// <summary>
    /// Emits <see cref="EncodeImage"/> in eval mode: fp32 pixels [N, 3, S, S] → fp32 embeddings [N, embed_dim]
    /// (L2-normalised when <paramref name="normalize"/>).
    /// </summary>
    /// <exception cref="NotSupportedException">The image tower is not one the exporter knows (a custom tower given to the constructor).</exception>
    internal string EmitImageEncoder(OnnxGraph graph, string pixels, bool normalize)
    {
        if (visual is not IOnnxImageTower tower)
            throw new NotSupportedException($"The image tower {visual.GetType().FullName} cannot be exported to ONNX: only the library's VisionTransformer and ModifiedResNet towers can.");
        var features = graph.ToFloat32(tower.EmitOnnx(graph, graph.FromFloat32(pixels, "pixel_values")), "image_features");
        return normalize ? graph.L2Normalize(features, "image_embeds_normalized") : features;
    }

    /// <summary>
    /// Emits <see cref="EncodeText"/>: int64 token ids [N, <paramref name="length"/>] → fp32 embeddings [N, embed_dim],
    /// pooled at each row's largest id (the first one, as ArgMax picks it).
    /// </summary>
    internal string EmitTextEncoder(OnnxGraph graph, string ids, long length, bool normalize)
    {
        if (length < 1 || length > Config.Text.ContextLength)
            throw new ArgumentOutOfRangeException(nameof(length), length, $"The token length must be 1 to the context length {Config.Text.ContextLength}.");
        long width = Config.Text.Width;
        using var scope = NewDisposeScope();
        var x = graph.Op("Gather", "text_token_embedding", [graph.Weight(token_embedding.weight!, "token_embedding"), ids], new OnnxAttribute("axis", 0L));
        x = graph.Add(x, graph.Weight(positional_embedding.detach().narrow(0, 0, length), "positional_embedding"), "text_positioned");
        // The causal mask, −∞ above the diagonal, as EncodeText builds it; fp32 because the softmax adds it in fp32.
        var mask = graph.Float32(ScalarSafe.Full([length, length], float.NegativeInfinity, ScalarType.Float32, CPU).triu_(1), "text_causal_mask");
        x = transformer.EmitOnnx(graph, x, mask, "text_transformer");
        x = ln_final.EmitOnnx(graph, x, "ln_final");
        // End-of-text pooling: ArgMax over the ids as floats (exact below 2^24; ArgMax has no int64 kernel everywhere).
        var eot = graph.Op("ArgMax", "text_eot", [graph.Cast(ids, OnnxElementType.Float, "text_ids_float")], new("axis", 1L), new("keepdims", 1L));
        var index = graph.Op("Expand", "text_eot_index", [graph.Reshape(eot, "text_eot_column", -1, 1, 1), graph.Int64s("text_eot_width", 1, 1, width)]);
        var pooled = graph.Reshape(graph.Op("GatherElements", "text_eot_features", [x, index], new OnnxAttribute("axis", 1L)), "text_pooled", -1, width);
        var features = graph.ToFloat32(graph.MatMul(pooled, graph.Weight(text_projection, "text_projection"), "text_features_compute"), "text_features");
        return normalize ? graph.L2Normalize(features, "text_embeds_normalized") : features;
    }
}
