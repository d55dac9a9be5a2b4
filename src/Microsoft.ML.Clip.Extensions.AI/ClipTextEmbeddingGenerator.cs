using System;
using System.Collections.Generic;
using System.Threading;
using System.Threading.Tasks;
using Microsoft.Extensions.AI;
using Microsoft.ML.Clip.Embeddings;

namespace Microsoft.ML.Clip.Extensions.AI;

/// <summary>
/// CLIP text embeddings as a Microsoft.Extensions.AI embedding generator, computed in process by a
/// <see cref="ClipModelBundle"/> (TorchSharp): the same vectors as the <c>ClipTextEmbedding</c> stage, comparable by
/// dot product with <see cref="ClipImageEmbeddingGenerator"/>'s image embeddings of the same bundle.
/// </summary>
/// <remarks>
/// <para>Requests of any size are split into batches of <see cref="ClipEmbeddingGeneratorOptions.BatchSize"/>, run on
/// the thread pool, with the cancellation token checked before each batch. Instances are thread-safe: concurrent calls
/// share the model (libtorch's own threads compute each batch).</para>
/// <para><b>Ownership.</b> The bundle belongs to the caller unless <see cref="ClipEmbeddingGeneratorOptions.OwnsBundle"/>
/// is set; <see cref="Dispose"/> waits for calls in progress, then refuses new ones (and disposes an owned bundle).</para>
/// <para><b>Options.</b> <see cref="EmbeddingGenerationOptions.Dimensions"/> is refused with an <see cref="ArgumentException"/>
/// unless it equals the model's embedding size (CLIP embeddings cannot be shortened); a <see cref="EmbeddingGenerationOptions.ModelId"/>
/// other than this generator's is refused too. A null text throws <see cref="ClipInputException"/> with its index.</para>
/// </remarks>
public sealed class ClipTextEmbeddingGenerator : IEmbeddingGenerator<string, Embedding<float>>
{
    /// <summary>Texts per forward pass when <see cref="ClipEmbeddingGeneratorOptions.BatchSize"/> is not set (the <c>ClipTextEmbedding</c> stage's default).</summary>
    public const int DefaultBatchSize = 64;

    /// <summary>The provider name in <see cref="EmbeddingGeneratorMetadata.ProviderName"/> (both TorchSharp generators).</summary>
    public const string ProviderName = "clip.torchsharp";

    private readonly EmbeddingBatches<string> _batches;
    private readonly bool _ownsBundle;

    /// <summary>Creates a generator over <paramref name="bundle"/>.</summary>
    /// <param name="bundle">The model, tokenizer and preprocessing (see <see cref="ClipEmbeddingGeneratorOptions.OwnsBundle"/> for who disposes it).</param>
    /// <param name="options">Batch size, normalization, model id, ownership; null: the defaults.</param>
    /// <exception cref="ArgumentOutOfRangeException">The batch size is below 1.</exception>
    public ClipTextEmbeddingGenerator(ClipModelBundle bundle, ClipEmbeddingGeneratorOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(bundle);
        options ??= new ClipEmbeddingGeneratorOptions();
        Bundle = bundle;
        _ownsBundle = options.OwnsBundle;
        bool normalize = options.Normalize;
        int contextLength = bundle.ContextLength;
        var tokenizer = bundle.Tokenizer;
        _batches = new EmbeddingBatches<string>(this, new EmbeddingGeneratorMetadata(ProviderName, null, options.ModelId, bundle.EmbeddingSize),
            options.BatchSize ?? DefaultBatchSize, normalize: false, (texts, start, count, destination) =>
            {
                var tokens = new long[count * contextLength];
                EmbeddingInputs.Tokenize(texts, start, count, contextLength, tokenizer, tokens);
                bundle.EncodeTextsInto(tokens, count, destination, normalize);
            });
    }

    /// <summary>The model this generator encodes with.</summary>
    public ClipModelBundle Bundle { get; }

    /// <summary>Provider name (<see cref="ProviderName"/>), model id and dimensions (the bundle's embedding size).</summary>
    public EmbeddingGeneratorMetadata Metadata => _batches.Metadata;

    /// <inheritdoc />
    public Task<GeneratedEmbeddings<Embedding<float>>> GenerateAsync(IEnumerable<string> values, EmbeddingGenerationOptions? options = null,
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
