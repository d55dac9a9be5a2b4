using System;
using Microsoft.ML.Clip.Onnx;

namespace Microsoft.ML.Clip.Modeling;

/// <summary>An attention layer that can write itself as ONNX nodes.</summary>
internal interface IOnnxAttention
{
    /// <summary>Emits the attention of <paramref name="x"/> [N, L, width]; <paramref name="extra"/> is the graph name of its second input (a mask, rotary tables) or null.</summary>
    string EmitOnnx(OnnxGraph graph, string x, string? extra, string name);
}

/// <summary>A feed-forward layer that can write itself as ONNX nodes.</summary>
internal interface IOnnxFeedForward
{
    /// <summary>Emits the layer applied to <paramref name="x"/>.</summary>
    string EmitOnnx(OnnxGraph graph, string x, string name);
}

internal sealed partial class ResidualAttentionBlock
{
    /// <summary>Emits x + attn(norm1(x)), then + mlp(norm2(·)).</summary>
    public string EmitOnnx(OnnxGraph graph, string x, string? extra, string name)
    {
        var attention = attn as IOnnxAttention ?? throw new NotSupportedException($"The attention {attn.GetType().Name} has no ONNX export.");
        var feedForward = mlp as IOnnxFeedForward ?? throw new NotSupportedException($"The MLP {mlp.GetType().Name} has no ONNX export.");
        var h = graph.Add(x, attention.EmitOnnx(graph, ln_1.EmitOnnx(graph, x, name + "_norm1"), extra, name + "_attn"), name + "_attn_residual");
        return graph.Add(h, feedForward.EmitOnnx(graph, ln_2.EmitOnnx(graph, h, name + "_norm2"), name + "_mlp"), name + "_mlp_residual");
    }
}
