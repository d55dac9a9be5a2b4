using Microsoft.ML.Clip.Onnx;

namespace Microsoft.ML.Clip.Modeling;

internal abstract partial class TimmTrunk : IOnnxImageTower
{
    /// <summary>
    /// Emits the eval-mode trunk: patch embedding, the family's prefix tokens and positions, blocks (with the family's
    /// second input), final norm, the family's pooling and the head. Patch dropout is training-only and has no part here.
    /// </summary>
    public string EmitOnnx(OnnxGraph graph, string pixels)
    {
        var x = EmitEmbed(graph, patch_embed.EmitOnnx(graph, pixels, "visual_patch_embed"));
        var extra = EmitBlockInput(graph);
        for (int i = 0; i < blocks.Count; i++)
            x = blocks[i].EmitOnnx(graph, x, extra, $"visual_blocks_{i}");
        var pooled = EmitPool(graph, norm.EmitOnnx(graph, x, "visual_norm"));
        return head is null ? pooled : graph.Linear(pooled, head, "visual_head");
    }

    /// <summary>Emits the prefix tokens and the positional embedding added to patch tokens [N, P, W].</summary>
    protected abstract string EmitEmbed(OnnxGraph graph, string patches);

    /// <summary>Emits the blocks' second input as a constant, or returns null.</summary>
    protected abstract string? EmitBlockInput(OnnxGraph graph);

    /// <summary>Emits the pooling of the normalised tokens into [N, W].</summary>
    protected abstract string EmitPool(OnnxGraph graph, string x);

    /// <summary>Emits <paramref name="tokens"/> + the positional embedding.</summary>
    protected string EmitAddPositions(OnnxGraph graph, string tokens) =>
        graph.Add(tokens, graph.Weight(pos_embed, "visual_pos_embed"), "visual_positioned");
}
