using Microsoft.ML.OnnxRuntime;

namespace Microsoft.ML.Clip.OnnxRuntime;

/// <summary>Settings of <see cref="ClipOnnxTextEmbeddingGenerator"/> and <see cref="ClipOnnxImageEmbeddingGenerator"/>.</summary>
public sealed class ClipOnnxEmbeddingGeneratorOptions
{
    /// <summary>
    /// Inputs per ONNX Runtime call; larger requests are split into batches of this size. Null:
    /// <see cref="ClipOnnxImageEmbeddingGenerator.DefaultBatchSize"/> images or <see cref="ClipOnnxTextEmbeddingGenerator.DefaultBatchSize"/> texts.
    /// </summary>
    public int? BatchSize { get; init; }

    /// <summary>
    /// True (the default): L2-normalized embeddings (normalized here when the export gives raw ones). False: the raw
    /// projections, which needs an export made with <c>NormalizeEmbeddings = false</c> (a normalized export cannot give
    /// them back, and the generator refuses to pretend it does).
    /// </summary>
    public bool Normalize { get; init; } = true;

    /// <summary>The model's name in the metadata and on every embedding (telemetry, cache keys). Null: the export folder's name.</summary>
    public string? ModelId { get; init; }

    /// <summary>
    /// ONNX Runtime's session settings (execution provider, threads). Null: the CPU with all graph optimizations. The
    /// caller keeps ownership of the object (it may configure several sessions).
    /// </summary>
    public SessionOptions? SessionOptions { get; init; }

    /// <summary>True (the default): check every file of the export against the manifest's SHA-256 before loading it.</summary>
    public bool VerifyFiles { get; init; } = true;
}
