using System;
using Microsoft.ML.Clip.Onnx;
using TorchSharp.Modules;

namespace Microsoft.ML.Clip.Modeling;

internal sealed partial class Mlp
{
    /// <summary>Emits c_fc → GELU or QuickGELU → c_proj.</summary>
    public string EmitOnnx(OnnxGraph graph, string x, string name)
    {
        var h = graph.Linear(x, c_fc, name + "_c_fc");
        h = gelu switch
        {
            QuickGelu => QuickGelu.EmitOnnx(graph, h, name + "_quick_gelu"),
            GELU => graph.Gelu(h, name + "_gelu"),
            _ => throw new NotSupportedException($"The MLP activation {gelu.GetType().Name} has no ONNX export."),
        };
        return graph.Linear(h, c_proj, name + "_c_proj");
    }
}
