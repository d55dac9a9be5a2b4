using System;
using System.Buffers;
using System.Collections.Generic;
using System.Threading;
using System.Threading.Tasks;
using Microsoft.Extensions.AI;
using Microsoft.ML.Clip.Embeddings;
using Microsoft.ML.Clip.Imaging;

namespace Microsoft.ML.Clip.Extensions.AI;

/// <summary>
/// CLIP image embeddings as a Microsoft.Extensions.AI embedding generator over encoded images
/// (<see cref="DataContent"/>: bytes with a media type), computed in process by a <see cref="ClipModelBundle"/>
/// (TorchSharp): the same vectors as the <c>ClipImageEmbedding</c> stage on the same bytes.
/// </summary>
/// <remarks>
/// <para><b>Inputs.</b> Each <see cref="DataContent"/> holds an encoded image (PNG, JPEG, WebP, GIF, BMP, ICO) with an
/// <c>image/*</c> media type, or <c>application/octet-stream</c> to decode by content. For a file, use
/// <c>await DataContent.LoadFromAsync(path)</c> (Microsoft.Extensions.AI reads it and infers the media type from the
/// extension; <see cref="DataContent"/> itself accepts only <c>data:</c> URIs). Images are decoded in parallel with
/// SkiaSharp and preprocessed exactly as the stages do (<see cref="ClipModelBundle.Preprocessing"/>); the header is read
/// first and images above <see cref="ImagePreprocessingOptions.MaxPixels"/> are refused before decoding. A bad input (null,
/// not an image media type, empty, corrupt, truncated, unsupported format, too large) fails the whole call with a
/// <see cref="ClipInputException"/> naming its index in the call and the reason; nothing is dropped silently.</para>
/// <para>Batching, thread safety, cancellation, options and ownership are those of <see cref="ClipTextEmbeddingGenerator"/>.</para>
/// </remarks>
public sealed class ClipImageEmbeddingGenerator : IEmbeddingGenerator<DataContent, Embedding<float>>
{
    /// <summary>Images per forward pass when <see cref="ClipEmbeddingGeneratorOptions.BatchSize"/> is not set (the <c>ClipImageEmbedding</c> stage's default).</summary>
    public const int DefaultBatchSize = 32;

    private readonly EmbeddingBatches<DataContent> _batches;
    private readonly bool _ownsBundle;

    /// <summary>Creates a generator over <paramref name="bundle"/>.</summary>
    /// <param name="bundle">The model, tokenizer and preprocessing (see <see cref="ClipEmbeddingGeneratorOptions.OwnsBundle"/> for who disposes it).</param>
    /// <param name="options">Batch size, normalization, model id, ownership; null: the defaults.</param>
    /// <exception cref="ArgumentOutOfRangeException">The batch size is below 1.</exception>
    public ClipImageEmbeddingGenerator(ClipModelBundle bundle, ClipEmbeddingGeneratorOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(bundle);
        options ??= new ClipEmbeddingGeneratorOptions();
        Bundle = bundle;
        _ownsBundle = options.OwnsBundle;
        bool normalize = options.Normalize;
        var preprocessor = new ClipImagePreprocessor(bundle.Preprocessing);
        _batches = new EmbeddingBatches<DataContent>(this,
            new EmbeddingGeneratorMetadata(ClipTextEmbeddingGenerator.ProviderName, null, options.ModelId, bundle.EmbeddingSize),
            options.BatchSize ?? DefaultBatchSize, normalize: false, (images, start, count, destination) =>
            {
                var pixels = ArrayPool<float>.Shared.Rent(count * preprocessor.OutputLength);
                try
                {
                    EmbeddingInputs.Preprocess(images, start, count, preprocessor, pixels);
                    bundle.EncodeImagesInto(pixels, count, destination, normalize);
                }
                finally
                {
                    ArrayPool<float>.Shared.Return(pixels);
                }
            });
    }

    /// <summary>The model this generator encodes with.</summary>
    public ClipModelBundle Bundle { get; }

    /// <summary>Provider name (<see cref="ClipTextEmbeddingGenerator.ProviderName"/>), model id and dimensions (the bundle's embedding size).</summary>
    public EmbeddingGeneratorMetadata Metadata => _batches.Metadata;

    /// <inheritdoc />
    public Task<GeneratedEmbeddings<Embedding<float>>> GenerateAsync(IEnumerable<DataContent> values, EmbeddingGenerationOptions? options = null,
        CancellationToken cancellationToken = default) =>
        _batches.GenerateAsync(values, options, cancellationToken);

    /// <summary>
    /// <see cref="EmbeddingGeneratorMetadata"/>, this generator, or its <see cref="ClipModelBundle"/>; null for other
    /// types and for keyed requests.
    /// </summary>
    public object? GetService(Type serviceType, object? serviceKey = null) => _batches.GetService(serviceType, serviceKey, this, Bundle);

    /// <summary>Waits for calls in progress, then refuses new ones; disposes the bundle when the generator owns it.</summary>
    public void Dispose()
    {
        if (_batches.Close() && _ownsBundle) Bundle.Dispose();
    }
}
