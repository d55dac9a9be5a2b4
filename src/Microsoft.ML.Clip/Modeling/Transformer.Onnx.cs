using Microsoft.ML.Clip.Onnx;

namespace Microsoft.ML.Clip.Modeling;

internal sealed partial class Transformer
{
    /// <summary>Emits every block in order.</summary>
    public string EmitOnnx(OnnxGraph graph, string x, string? mask, string name)
    {
        for (int i = 0; i < resblocks.Count; i++)
            x = resblocks[i].EmitOnnx(graph, x, mask, $"{name}_resblocks_{i}");
        return x;
    }
}
