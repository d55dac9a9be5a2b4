using Microsoft.ML.Clip.Onnx;

namespace Microsoft.ML.Clip.Modeling;

internal sealed partial class VisionTransformer : IOnnxImageTower
{
    /// <summary>
    /// Emits the eval-mode tower: patch convolution, class token, positional embedding, ln_pre, blocks, ln_post on
    /// the class token, projection. Patch dropout (FLIP) is a training-mode operation and has no part here.
    /// </summary>
    string IOnnxImageTower.EmitOnnx(OnnxGraph graph, string pixels)
    {
        long width = Config.Width;
        var x = graph.Conv(pixels, conv1.Weight, conv1.Bias, conv1.Stride, conv1.Padding, "visual_conv1"); // [N, W, g, g]
        x = graph.Transpose(graph.Reshape(x, "visual_patches", 0, width, -1), "visual_tokens", 0, 2, 1); // [N, g², W]
        using var cls = class_embedding.detach().view(1, 1, width);
        var classToken = graph.ExpandToBatch(graph.Weight(cls, "visual_class_embedding"), x, width, "visual_class_token");
        x = graph.Op("Concat", "visual_with_class", [classToken, x], new OnnxAttribute("axis", 1L));
        x = graph.Add(x, graph.Weight(positional_embedding, "visual_positional_embedding"), "visual_positioned");
        x = ln_pre.EmitOnnx(graph, x, "visual_ln_pre");
        x = transformer.EmitOnnx(graph, x, null, "visual_transformer");
        var pooled = ln_post.EmitOnnx(graph, graph.Select(x, 1, 0, "visual_class_output"), "visual_ln_post");
        return graph.MatMul(pooled, graph.Weight(proj, "visual_proj"), "visual_embedding");
    }
}
