using Microsoft.ML.Clip.Onnx;

namespace Microsoft.ML.Clip.Modeling;

internal sealed partial class Mlp
{
    /// <summary>Emits in → activation → out.</summary>
    public string EmitOnnx(OnnxGraph graph, string x, string name)
    {
        var h = graph.Linear(x, c_fc, name + "_fc");
        h = Activation switch
        {
            MlpActivation.QuickGelu => QuickGelu.EmitOnnx(graph, h, name + "_quick_gelu"),
            MlpActivation.GeluTanh => graph.GeluTanh(h, name + "_gelu_tanh"),
            _ => graph.Gelu(h, name + "_gelu"),
        };
        return graph.Linear(h, c_proj, name + "_proj");
    }
}
