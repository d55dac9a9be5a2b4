using System.Linq;
using Microsoft.ML.Clip.Onnx;

namespace Microsoft.ML.Clip.Modeling;

internal sealed partial class ModifiedResNet : IOnnxImageTower
{
    /// <summary>Emits the eval-mode tower: stem, four stages of bottlenecks, attention pooling.</summary>
    string IOnnxImageTower.EmitOnnx(OnnxGraph graph, string pixels)
    {
        var h = pixels;
        foreach (var (conv, norm, i) in new[] { (conv1, bn1, 1), (conv2, bn2, 2), (conv3, bn3, 3) })
            h = graph.Relu(graph.BatchNorm(graph.Conv(h, conv.Weight, conv.Bias, conv.Stride, conv.Padding, $"visual_conv{i}"), norm, $"visual_bn{i}"), $"visual_relu{i}");
        h = graph.AveragePool(h, 2, "visual_avgpool");
        foreach (var (stage, s) in new[] { layer1, layer2, layer3, layer4 }.Select((stage, s) => (stage, s + 1)))
            foreach (var (block, b) in stage.children().Cast<ResNetBottleneck>().Select((block, b) => (block, b)))
                h = block.EmitOnnx(graph, h, $"visual_layer{s}_{b}");
        return attnpool.EmitOnnx(graph, h, "visual_attnpool");
    }
}
