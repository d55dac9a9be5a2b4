using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using Microsoft.Extensions.AI;
using Microsoft.ML.Clip.Threading;

namespace Microsoft.ML.Clip.Embeddings;

/// <summary>
/// What every CLIP embedding generator does around its model (source shared by the TorchSharp and the ONNX Runtime
/// generators, internal in each): checks the options, splits the inputs into batches of the model's batch size,
/// honours cancellation between batches, normalizes when the model does not, wraps the vectors as
/// <see cref="Embedding{T}"/>s, answers <c>GetService</c>, and lets calls in progress finish before the owner frees
/// native memory.
/// </summary>
/// <typeparam name="TInput">string (texts) or <see cref="DataContent"/> (images).</typeparam>
internal sealed class EmbeddingBatches<TInput>
{
    /// <summary>Embeds inputs <c>[start, start + count)</c> into the first <c>count × dimensions</c> floats of the destination.</summary>
    public delegate void BatchEncoder(IReadOnlyList<TInput> inputs, int start, int count, float[] destination);

    private readonly object _owner;
    private readonly BatchEncoder _encode;
    private readonly int _batchSize;
    private readonly bool _normalize;
    private readonly UsageGate _gate = new();

    /// <param name="owner">The generator (named when a call comes after its disposal).</param>
    /// <param name="metadata">Provider name, model id and dimensions (<see cref="EmbeddingGeneratorMetadata.DefaultModelDimensions"/> set).</param>
    /// <param name="batchSize">Inputs per model call.</param>
    /// <param name="normalize">L2-normalize each vector here (when the model returns raw embeddings and normalized ones were asked for).</param>
    /// <param name="encode">The model call.</param>
    public EmbeddingBatches(object owner, EmbeddingGeneratorMetadata metadata, int batchSize, bool normalize, BatchEncoder encode)
    {
        if (batchSize < 1)
            throw new ArgumentOutOfRangeException(nameof(batchSize), batchSize, "The batch size must be at least 1.");
        _owner = owner;
        Metadata = metadata;
        Dimensions = metadata.DefaultModelDimensions ?? throw new ArgumentException("The metadata must give the dimensions.", nameof(metadata));
        _batchSize = batchSize;
        _normalize = normalize;
        _encode = encode;
    }

    /// <summary>Provider name, model id and dimensions.</summary>
    public EmbeddingGeneratorMetadata Metadata { get; }

    /// <summary>Floats per embedding.</summary>
    public int Dimensions { get; }

    /// <summary>
    /// Embeds <paramref name="values"/> in order, batch by batch on the thread pool (the caller's thread is not held),
    /// checking <paramref name="cancellationToken"/> before each batch.
    /// </summary>
    public async Task<GeneratedEmbeddings<Embedding<float>>> GenerateAsync(IEnumerable<TInput> values, EmbeddingGenerationOptions? options,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(values);
        CheckOptions(options);
        var inputs = values as IReadOnlyList<TInput> ?? values.ToList();
        using var use = _gate.Enter(_owner);
        var result = new GeneratedEmbeddings<Embedding<float>>(inputs.Count);
        var buffer = new float[Math.Min(_batchSize, inputs.Count) * Dimensions];
        var created = DateTimeOffset.UtcNow;
        for (int start = 0; start < inputs.Count; start += _batchSize)
        {
            cancellationToken.ThrowIfCancellationRequested();
            int count = Math.Min(_batchSize, inputs.Count - start), first = start;
            await Task.Run(() => _encode(inputs, first, count, buffer), cancellationToken).ConfigureAwait(false);
            for (int i = 0; i < count; i++)
            {
                var vector = buffer.AsSpan(i * Dimensions, Dimensions).ToArray();
                if (_normalize) Normalize(vector);
                result.Add(new Embedding<float>(vector) { ModelId = Metadata.DefaultModelId, CreatedAt = created });
            }
        }
        return result;
    }

    /// <summary>
    /// <see cref="IEmbeddingGenerator.GetService"/>: the metadata, else the first of <paramref name="services"/> (the
    /// generator itself, then what it wraps) of the asked type; null for keyed requests.
    /// </summary>
    public object? GetService(Type serviceType, object? serviceKey, params object?[] services)
    {
        ArgumentNullException.ThrowIfNull(serviceType);
        if (serviceKey is not null) return null;
        if (serviceType == typeof(EmbeddingGeneratorMetadata)) return Metadata;
        return services.FirstOrDefault(s => s is not null && serviceType.IsInstanceOfType(s));
    }

    /// <summary>Refuses new calls and waits for those in progress; true the first time (the owner then frees its resources).</summary>
    public bool Close() => _gate.Close();

    private void CheckOptions(EmbeddingGenerationOptions? options)
    {
        if (options?.Dimensions is int dimensions && dimensions != Dimensions)
            throw new ArgumentException(
                $"EmbeddingGenerationOptions.Dimensions is {dimensions}, but this CLIP model's embeddings have {Dimensions} dimensions, and CLIP " +
                $"embeddings cannot be shortened (the model was not trained for truncation). Leave Dimensions unset or set it to {Dimensions}.", nameof(options));
        if (options?.ModelId is { } modelId && Metadata.DefaultModelId is { } own && !string.Equals(modelId, own, StringComparison.Ordinal))
            throw new ArgumentException(
                $"EmbeddingGenerationOptions.ModelId is '{modelId}', but this generator serves one model, '{own}'. Leave ModelId unset or register a generator per model.", nameof(options));
    }

    /// <summary>Divides by the L2 norm (kept at least 1e-12, as torch's normalize does).</summary>
    private static void Normalize(float[] vector)
    {
        double sum = 0;
        foreach (float v in vector) sum += (double)v * v;
        float scale = (float)(1 / Math.Max(Math.Sqrt(sum), 1e-12));
        for (int i = 0; i < vector.Length; i++) vector[i] *= scale;
    }
}
