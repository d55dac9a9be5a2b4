using Microsoft.ML.Clip.Onnx;

namespace Microsoft.ML.Clip.Modeling;

internal sealed partial class ResidualAttentionBlock
{
    /// <summary>Emits x + attn(ln_1(x)), then + mlp(ln_2(·)).</summary>
    public string EmitOnnx(OnnxGraph graph, string x, string? mask, string name)
    {
        var h = graph.Add(x, attn.EmitOnnx(graph, ln_1.EmitOnnx(graph, x, name + "_ln_1"), mask, name + "_attn"), name + "_attn_residual");
        return graph.Add(h, mlp.EmitOnnx(graph, ln_2.EmitOnnx(graph, h, name + "_ln_2"), name + "_mlp"), name + "_mlp_residual");
    }
}
