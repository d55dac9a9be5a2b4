using System;
using System.Buffers;
using System.Collections.Generic;
using System.Threading;
using System.Threading.Tasks;
using Microsoft.Extensions.AI;
using Microsoft.ML.Clip.Embeddings;
using Microsoft.ML.Clip.Imaging;
using Microsoft.ML.Clip.Onnx;
using Microsoft.ML.OnnxRuntime;

namespace Microsoft.ML.Clip.OnnxRuntime;

/// <summary>
/// CLIP image embeddings as a Microsoft.Extensions.AI embedding generator over encoded images (<see cref="DataContent"/>),
/// computed by ONNX Runtime from an export folder (<c>image_encoder.onnx</c>, <c>clip-onnx.json</c>), without TorchSharp:
/// the same vectors as the library's <c>ClipImageEmbedding</c> stage on the same bytes within float rounding.
/// </summary>
/// <remarks>
/// <para><b>Inputs.</b> Each <see cref="DataContent"/> holds an encoded image (PNG, JPEG, WebP, GIF, BMP, ICO) with an
/// <c>image/*</c> media type, or <c>application/octet-stream</c> to decode by content; for a file use
/// <c>await DataContent.LoadFromAsync(path)</c>. Images are decoded in parallel with SkiaSharp and preprocessed as the
/// export's manifest says (<see cref="ClipOnnxManifest.CreatePreprocessingOptions"/>: PIL-exact resize, crop,
/// normalization); images above <see cref="ImagePreprocessingOptions.MaxPixels"/> are refused from their header. A bad
/// input fails the call with a <see cref="ClipInputException"/> naming its index in the call and the reason.</para>
/// <para>Batching, thread safety, cancellation, options and disposal are those of <see cref="ClipOnnxTextEmbeddingGenerator"/>.</para>
/// </remarks>
public sealed class ClipOnnxImageEmbeddingGenerator : IEmbeddingGenerator<DataContent, Embedding<float>>
{
    /// <summary>Images per ONNX Runtime call when <see cref="ClipOnnxEmbeddingGeneratorOptions.BatchSize"/> is not set.</summary>
    public const int DefaultBatchSize = 32;

    private readonly OnnxEncoder _encoder;
    private readonly EmbeddingBatches<DataContent> _batches;

    /// <summary>Opens the image encoder of an export folder.</summary>
    /// <param name="exportFolder">A folder written by <c>ClipModelBundle.ExportOnnx</c>.</param>
    /// <param name="options">Batch size, normalization, model id, session settings; null: the defaults.</param>
    /// <exception cref="System.IO.FileNotFoundException">The folder has no manifest, or lacks a file it lists.</exception>
    /// <exception cref="System.IO.InvalidDataException">The manifest is unreadable, names an unknown resize mode, or a file is damaged (SHA-256).</exception>
    /// <exception cref="InvalidOperationException">Raw embeddings were asked for from an export that normalizes them.</exception>
    public ClipOnnxImageEmbeddingGenerator(string exportFolder, ClipOnnxEmbeddingGeneratorOptions? options = null)
    {
        (_encoder, _batches) = OnnxEncoder.Open<DataContent>(this, exportFolder, options, DefaultBatchSize, m => (m.ImageEncoder, m.ImageInput, m.ImageOutput), encoder =>
        {
            var preprocessor = new ClipImagePreprocessor(encoder.Manifest.CreatePreprocessingOptions());
            int size = preprocessor.ImageSize;
            return (images, start, count, destination) =>
            {
                var pixels = ArrayPool<float>.Shared.Rent(count * preprocessor.OutputLength);
                try
                {
                    EmbeddingInputs.Preprocess(images, start, count, preprocessor, pixels);
                    encoder.Run(pixels, [count, 3, size, size], destination);
                }
                finally
                {
                    ArrayPool<float>.Shared.Return(pixels);
                }
            };
        });
    }

    /// <summary>The export's manifest (image size, normalization, embedding size, precision, ...).</summary>
    public ClipOnnxManifest Manifest => _encoder.Manifest;

    /// <summary>Provider name (<see cref="ClipOnnxTextEmbeddingGenerator.ProviderName"/>), model id and dimensions (the export's embedding size).</summary>
    public EmbeddingGeneratorMetadata Metadata => _batches.Metadata;

    /// <inheritdoc />
    public Task<GeneratedEmbeddings<Embedding<float>>> GenerateAsync(IEnumerable<DataContent> values, EmbeddingGenerationOptions? options = null,
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
