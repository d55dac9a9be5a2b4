namespace Microsoft.ML.Clip.Extensions.AI;

/// <summary>Settings of <see cref="ClipTextEmbeddingGenerator"/> and <see cref="ClipImageEmbeddingGenerator"/>.</summary>
public sealed class ClipEmbeddingGeneratorOptions
{
    /// <summary>
    /// Inputs per forward pass; larger requests are split into batches of this size. Null: the embedding stages'
    /// defaults, <see cref="ClipImageEmbeddingGenerator.DefaultBatchSize"/> images or <see cref="ClipTextEmbeddingGenerator.DefaultBatchSize"/> texts.
    /// </summary>
    public int? BatchSize { get; init; }

    /// <summary>
    /// True (the default): L2-normalized embeddings, as the ML.NET embedding stages give them (compare them by dot
    /// product). False: the model's raw projections (their norms carry no meaning CLIP was trained for, but some
    /// stores or probes want them).
    /// </summary>
    public bool Normalize { get; init; } = true;

    /// <summary>
    /// The model's name in <see cref="Microsoft.Extensions.AI.EmbeddingGeneratorMetadata.DefaultModelId"/>, on every
    /// embedding, and so in telemetry and in the keys of Microsoft.Extensions.AI's caching middleware: name the model
    /// (e.g. <c>ViT-B-32/laion2b</c>) when a cache outlives a model swap. Null: none.
    /// </summary>
    public string? ModelId { get; init; }

    /// <summary>
    /// True: the generator owns the bundle and disposes it with itself (for a bundle loaded for this generator only).
    /// False (the default): the bundle belongs to the caller, who may share it with other generators and ML.NET stages.
    /// </summary>
    public bool OwnsBundle { get; init; }
}
