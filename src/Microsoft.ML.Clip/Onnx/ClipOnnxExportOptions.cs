namespace Microsoft.ML.Clip.Onnx;

/// <summary>Arithmetic of exported encoders.</summary>
public enum ClipOnnxPrecision
{
    /// <summary>fp32 weights and arithmetic: the TorchSharp model's outputs to ~1e-5 (the exporter's parity tests use 1e-4 + 1e-4·|x|).</summary>
    Float32 = 0,

    /// <summary>
    /// fp16 weights and arithmetic (half the file size; fast on GPUs), with layer norms, softmaxes and the final
    /// normalisation computed in fp32. Inputs and outputs stay float32.
    /// </summary>
    Float16 = 1,
}

/// <summary>Options of <see cref="ClipModelBundle.ExportOnnx(string, ClipOnnxExportOptions?)"/>.</summary>
public sealed class ClipOnnxExportOptions
{
    /// <summary>Weights and arithmetic of both encoders (default float32).</summary>
    public ClipOnnxPrecision Precision { get; init; } = ClipOnnxPrecision.Float32;

    /// <summary>
    /// L2-normalise the embeddings inside the graphs (default true, as the library's embedding stages do); false
    /// returns the raw projections (open_clip's <c>encode_image</c> / <c>encode_text</c>).
    /// </summary>
    public bool NormalizeEmbeddings { get; init; } = true;
}
