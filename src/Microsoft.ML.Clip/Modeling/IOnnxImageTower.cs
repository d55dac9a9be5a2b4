using Microsoft.ML.Clip.Onnx;

namespace Microsoft.ML.Clip.Modeling;

/// <summary>An image tower that can write itself as ONNX nodes (the ViT and the ModifiedResNet).</summary>
internal interface IOnnxImageTower
{
    /// <summary>Emits the eval-mode forward pass: normalised pixels [N, 3, S, S] → embeddings [N, D], both in the graph's compute precision.</summary>
    string EmitOnnx(OnnxGraph graph, string pixels);
}
