using Microsoft.ML.Clip.Onnx;

namespace Microsoft.ML.Clip.Modeling;

internal sealed partial class SwiGluMlp
{
    /// <summary>Emits fc2(norm(silu(fc1_g(x)) · fc1_x(x))), SiLU as x·σ(x).</summary>
    public string EmitOnnx(OnnxGraph graph, string x, string name)
    {
        var gate = graph.Linear(x, fc1_g, name + "_fc1_g");
        var silu = graph.Mul(gate, graph.Op("Sigmoid", name + "_sigmoid", [gate]), name + "_silu");
        var gated = graph.Mul(silu, graph.Linear(x, fc1_x, name + "_fc1_x"), name + "_gated");
        return graph.Linear(norm.EmitOnnx(graph, gated, name + "_norm"), fc2, name + "_fc2");
    }
}
