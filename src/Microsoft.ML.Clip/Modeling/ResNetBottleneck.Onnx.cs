using Microsoft.ML.Clip.Modeling.Kernels;
using Microsoft.ML.Clip.Onnx;
using TorchSharp.Modules;

namespace Microsoft.ML.Clip.Modeling;

internal sealed partial class ResNetBottleneck
{
    /// <summary>Emits the block in eval mode (BatchNorm with running statistics).</summary>
    public string EmitOnnx(OnnxGraph graph, string x, string name)
    {
        var y = graph.Relu(graph.BatchNorm(graph.Conv(x, conv1.Weight, conv1.Bias, conv1.Stride, conv1.Padding, name + "_conv1"), bn1, name + "_bn1"), name + "_relu1");
        y = graph.Relu(graph.BatchNorm(graph.Conv(y, conv2.Weight, conv2.Bias, conv2.Stride, conv2.Padding, name + "_conv2"), bn2, name + "_bn2"), name + "_relu2");
        if (avgpool is not null) y = graph.AveragePool(y, Stride, name + "_avgpool");
        y = graph.BatchNorm(graph.Conv(y, conv3.Weight, conv3.Bias, conv3.Stride, conv3.Padding, name + "_conv3"), bn3, name + "_bn3");
        return graph.Relu(graph.Add(y, EmitShortcut(graph, x, name + "_downsample"), name + "_residual"), name);
    }

    private string EmitShortcut(OnnxGraph graph, string x, string name)
    {
        if (downsample is null) return x;
        if (Stride > 1) x = graph.AveragePool(x, Stride, name + "_pool");
        var conv = (CheckedConv2d)downsample[Stride > 1 ? 1 : 0];
        var norm = (BatchNorm2d)downsample[Stride > 1 ? 2 : 1];
        return graph.BatchNorm(graph.Conv(x, conv.Weight, conv.Bias, conv.Stride, conv.Padding, name + "_conv"), norm, name + "_bn");
    }
}
