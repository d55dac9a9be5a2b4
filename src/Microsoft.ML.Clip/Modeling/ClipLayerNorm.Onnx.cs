using Microsoft.ML.Clip.Onnx;

namespace Microsoft.ML.Clip.Modeling;

internal sealed partial class ClipLayerNorm
{
    /// <summary>Emits this layer norm (fp32 arithmetic in every graph precision, as <see cref="forward(TorchSharp.torch.Tensor, TorchSharp.torch.ScalarType)"/>).</summary>
    public string EmitOnnx(OnnxGraph graph, string x, string name) => graph.LayerNorm(x, weight, bias, _eps, name);
}
