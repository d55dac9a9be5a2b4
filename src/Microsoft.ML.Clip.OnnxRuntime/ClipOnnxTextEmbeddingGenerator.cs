using System;
using System.Collections.Generic;
using System.Threading;
using System.Threading.Tasks;
using Microsoft.Extensions.AI;
using Microsoft.ML.Clip.Embeddings;
using Microsoft.ML.Clip.Onnx;
using Microsoft.ML.OnnxRuntime;

namespace Microsoft.ML.Clip.OnnxRuntime;

/// <summary>
/// CLIP text embeddings as a Microsoft.Extensions.AI embedding generator, computed by ONNX Runtime from an export
/// folder (<c>ClipModelBundle.ExportOnnx</c>: <c>text_encoder.onnx</c>, the tokenizer's files, <c>clip-onnx.json</c>),
/// without TorchSharp: the same vectors as the library's <c>ClipTextEmbedding</c> stage within float rounding.
/// </summary>
/// <remarks>
/// <para>The tokenizer is the export's (<see cref="ClipOnnxManifest.CreateTokenizer"/>). Requests of any size are split
/// into batches of <see cref="ClipOnnxEmbeddingGeneratorOptions.BatchSize"/>, run on the thread pool, with the
/// cancellation token checked before each batch. Instances are thread-safe (ONNX Runtime sessions run concurrently).</para>
/// <para><see cref="EmbeddingGenerationOptions.Dimensions"/> is refused with an <see cref="ArgumentException"/> unless it
/// equals the export's embedding size; a different <see cref="EmbeddingGenerationOptions.ModelId"/> is refused too. A null
/// text throws <see cref="ClipInputException"/> with its index. <see cref="Dispose"/> waits for calls in progress,
/// then frees the session's native memory.</para>
/// </remarks>
public sealed class ClipOnnxTextEmbeddingGenerator : IEmbeddingGenerator<string, Embedding<float>>
{
    /// <summary>Texts per ONNX Runtime call when <see cref="ClipOnnxEmbeddingGeneratorOptions.BatchSize"/> is not set.</summary>
    public const int DefaultBatchSize = 64;

    /// <summary>The provider name in <see cref="EmbeddingGeneratorMetadata.ProviderName"/> (both ONNX Runtime generators).</summary>
    public const string ProviderName = "clip.onnxruntime";

    private readonly OnnxEncoder _encoder;
    private readonly EmbeddingBatches<string> _batches;

    /// <summary>Opens the text encoder of an export folder.</summary>
    /// <param name="exportFolder">A folder written by <c>ClipModelBundle.ExportOnnx</c>.</param>
    /// <param name="options">Batch size, normalization, model id, session settings; null: the defaults.</param>
    /// <exception cref="System.IO.FileNotFoundException">The folder has no manifest, or lacks a file it lists.</exception>
    /// <exception cref="System.IO.InvalidDataException">The manifest is unreadable or a file is damaged (SHA-256).</exception>
    /// <exception cref="InvalidOperationException">Raw embeddings were asked for from an export that normalizes them.</exception>
    public ClipOnnxTextEmbeddingGenerator(string exportFolder, ClipOnnxEmbeddingGeneratorOptions? options = null)
    {
        (_encoder, _batches) = OnnxEncoder.Open<string>(this, exportFolder, options, DefaultBatchSize, m => (m.TextEncoder, m.TextInput, m.TextOutput), encoder =>
        {
            int contextLength = encoder.Manifest.ContextLength;
            var tokenizer = encoder.Manifest.CreateTokenizer(exportFolder);
            return (texts, start, count, destination) =>
            {
                var tokens = new long[count * contextLength];
                EmbeddingInputs.Tokenize(texts, start, count, contextLength, tokenizer, tokens);
                encoder.Run(tokens, [count, contextLength], destination);
            };
        });
    }

    /// <summary>The export's manifest (image size, context length, embedding size, precision, ...).</summary>
    public ClipOnnxManifest Manifest => _encoder.Manifest;

    /// <summary>Provider name (<see cref="ProviderName"/>), model id and dimensions (the export's embedding size).</summary>
    public EmbeddingGeneratorMetadata Metadata => _batches.Metadata;

    /// <inheritdoc />
    public Task<GeneratedEmbeddings<Embedding<float>>> GenerateAsync(IEnumerable<string> values, EmbeddingGenerationOptions? options = null,
        CancellationToken cancellationToken = default) =>
        _batches.GenerateAsync(values, options, cancellationToken);

    /// <summary>
    /// <see cref="EmbeddingGeneratorMetadata"/>, this generator, its <see cref="ClipOnnxManifest"/> or its ONNX Runtime
    /// <see cref="InferenceSession"/>; null for other types and for keyed requests.
    /// </summary>
    public object? GetService(Type serviceType, object? serviceKey = null) =>
        _batches.GetService(serviceType, serviceKey, this, _encoder.Manifest, _encoder.Session);

    /// <summary>Waits for calls in progress, then frees the ONNX Runtime session.</summary>
    public void Dispose()
    {
        if (_batches.Close()) _encoder.Dispose();
    }
}
