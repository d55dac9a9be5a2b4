using System;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.DependencyInjection;

namespace Microsoft.ML.Clip.Extensions.AI;

/// <summary>A <see cref="ClipModelBundle"/> as Microsoft.Extensions.AI embedding generators, directly or registered for dependency injection.</summary>
/// <example>
/// <code>
/// using var clip = ClipModelBundle.FromHubFolder("models/ViT-B-16-SigLIP");
/// using var texts = clip.AsTextEmbeddingGenerator();
/// var vectors = await texts.GenerateAsync(["a red car", "a cat on a sofa"]);
/// using var images = clip.AsImageEmbeddingGenerator();
/// var photo = await images.GenerateAsync([await DataContent.LoadFromAsync("photo.jpg")]);
///
/// // Dependency injection, with Microsoft.Extensions.AI's middleware on top.
/// services.AddClipTextEmbeddingGenerator(clip).UseDistributedCache().UseLogging();
/// </code>
/// </example>
public static class ClipEmbeddingGeneratorExtensions
{
    /// <summary>A text embedding generator over the bundle (see <see cref="ClipTextEmbeddingGenerator"/>).</summary>
    /// <param name="bundle">The model; it stays the caller's unless <see cref="ClipEmbeddingGeneratorOptions.OwnsBundle"/> is set.</param>
    /// <param name="options">Batch size, normalization, model id, ownership; null: the defaults.</param>
    public static IEmbeddingGenerator<string, Embedding<float>> AsTextEmbeddingGenerator(this ClipModelBundle bundle, ClipEmbeddingGeneratorOptions? options = null) =>
        new ClipTextEmbeddingGenerator(bundle, options);

    /// <summary>An image embedding generator over the bundle (see <see cref="ClipImageEmbeddingGenerator"/>).</summary>
    /// <param name="bundle">The model; it stays the caller's unless <see cref="ClipEmbeddingGeneratorOptions.OwnsBundle"/> is set.</param>
    /// <param name="options">Batch size, normalization, model id, ownership; null: the defaults.</param>
    public static IEmbeddingGenerator<DataContent, Embedding<float>> AsImageEmbeddingGenerator(this ClipModelBundle bundle, ClipEmbeddingGeneratorOptions? options = null) =>
        new ClipImageEmbeddingGenerator(bundle, options);

    /// <summary>
    /// Registers a singleton <c>IEmbeddingGenerator&lt;string, Embedding&lt;float&gt;&gt;</c> over <paramref name="bundle"/>
    /// and returns Microsoft.Extensions.AI's builder, on which middleware composes
    /// (<c>.UseLogging()</c>, <c>.UseDistributedCache()</c>, <c>.UseOpenTelemetry()</c>, ...).
    /// </summary>
    /// <param name="services">The service collection.</param>
    /// <param name="bundle">The model. The container disposes the generator it builds, and with it the bundle only when
    /// <see cref="ClipEmbeddingGeneratorOptions.OwnsBundle"/> is set.</param>
    /// <param name="options">Batch size, normalization, model id, ownership; null: the defaults.</param>
    public static EmbeddingGeneratorBuilder<string, Embedding<float>> AddClipTextEmbeddingGenerator(this IServiceCollection services,
        ClipModelBundle bundle, ClipEmbeddingGeneratorOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(bundle);
        return services.AddEmbeddingGenerator(_ => new ClipTextEmbeddingGenerator(bundle, options));
    }

    /// <summary>
    /// Registers a singleton <c>IEmbeddingGenerator&lt;DataContent, Embedding&lt;float&gt;&gt;</c> over <paramref name="bundle"/>
    /// and returns Microsoft.Extensions.AI's builder for middleware (see <see cref="AddClipTextEmbeddingGenerator"/>).
    /// </summary>
    /// <param name="services">The service collection.</param>
    /// <param name="bundle">The model (disposed with the generator only when <see cref="ClipEmbeddingGeneratorOptions.OwnsBundle"/> is set).</param>
    /// <param name="options">Batch size, normalization, model id, ownership; null: the defaults.</param>
    public static EmbeddingGeneratorBuilder<DataContent, Embedding<float>> AddClipImageEmbeddingGenerator(this IServiceCollection services,
        ClipModelBundle bundle, ClipEmbeddingGeneratorOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(bundle);
        return services.AddEmbeddingGenerator(_ => new ClipImageEmbeddingGenerator(bundle, options));
    }
}
