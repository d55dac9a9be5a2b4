using System;
using Microsoft.ML.Clip.Onnx;
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
            throw new NotSupportedException($"The image tower {visual.GetType().FullName} cannot be exported to ONNX: only the library's own towers can.");
        var features = graph.ToFloat32(tower.EmitOnnx(graph, graph.FromFloat32(pixels, "pixel_values")), "image_features");
        return normalize ? graph.L2Normalize(features, "image_embeds_normalized") : features;
    }

    /// <summary>
    /// Emits <see cref="EncodeText"/>: int64 token ids [N, <paramref name="length"/>] → fp32 embeddings [N, embed_dim],
    /// pooled as the config says (at each row's largest id, the first one as ArgMax picks it, by default).
    /// </summary>
    internal string EmitTextEncoder(OnnxGraph graph, string ids, long length, bool normalize)
    {
        if (length < 1 || length > Config.Text.ContextLength)
            throw new ArgumentOutOfRangeException(nameof(length), length, $"The token length must be 1 to the context length {Config.Text.ContextLength}.");
        var features = graph.ToFloat32(text.EmitOnnx(graph, ids, length), "text_features");
        return normalize ? graph.L2Normalize(features, "text_embeds_normalized") : features;
    }
}
