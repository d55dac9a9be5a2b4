using Microsoft.ML.Clip.Onnx;

namespace Microsoft.ML.Clip.Modeling;

internal sealed partial class QuickGelu
{
    /// <summary>Emits x · σ(1.702 x).</summary>
    public static string EmitOnnx(OnnxGraph graph, string x, string name)
    {
        var scaled = graph.Mul(x, graph.Scalar(1.702, name + "_factor"), name + "_scaled");
        return graph.Mul(x, graph.Op("Sigmoid", name + "_gate", [scaled]), name);
    }
}
