using System;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.DependencyInjection;

namespace Microsoft.ML.Clip.OnnxRuntime;

/// <summary>Registers the ONNX Runtime CLIP embedding generators for dependency injection.</summary>
/// <example>
/// <code>
/// // An export folder written by ClipModelBundle.ExportOnnx; the application references ONNX Runtime, not TorchSharp.
/// services.AddClipOnnxTextEmbeddingGenerator("clip-onnx");
/// services.AddClipOnnxImageEmbeddingGenerator("clip-onnx");
/// // or directly:
/// using var texts = new ClipOnnxTextEmbeddingGenerator("clip-onnx");
/// var vectors = await texts.GenerateAsync(["a red car"]);
/// </code>
/// </example>
public static class ClipOnnxEmbeddingGeneratorExtensions
{
    /// <summary>
    /// Registers a singleton <c>IEmbeddingGenerator&lt;string, Embedding&lt;float&gt;&gt;</c> over the text encoder of
    /// <paramref name="exportFolder"/> (opened when first resolved; disposed with the container) and returns
    /// Microsoft.Extensions.AI's builder, on which middleware composes (<c>.UseLogging()</c>, <c>.UseDistributedCache()</c>, ...).
    /// </summary>
    /// <param name="services">The service collection.</param>
    /// <param name="exportFolder">A folder written by <c>ClipModelBundle.ExportOnnx</c>.</param>
    /// <param name="options">Batch size, normalization, model id, session settings; null: the defaults.</param>
    public static EmbeddingGeneratorBuilder<string, Embedding<float>> AddClipOnnxTextEmbeddingGenerator(this IServiceCollection services,
        string exportFolder, ClipOnnxEmbeddingGeneratorOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentException.ThrowIfNullOrEmpty(exportFolder);
        return services.AddEmbeddingGenerator(_ => new ClipOnnxTextEmbeddingGenerator(exportFolder, options));
    }

    /// <summary>
    /// Registers a singleton <c>IEmbeddingGenerator&lt;DataContent, Embedding&lt;float&gt;&gt;</c> over the image encoder
    /// of <paramref name="exportFolder"/> and returns Microsoft.Extensions.AI's builder (see <see cref="AddClipOnnxTextEmbeddingGenerator"/>).
    /// </summary>
    /// <param name="services">The service collection.</param>
    /// <param name="exportFolder">A folder written by <c>ClipModelBundle.ExportOnnx</c>.</param>
    /// <param name="options">Batch size, normalization, model id, session settings; null: the defaults.</param>
    public static EmbeddingGeneratorBuilder<DataContent, Embedding<float>> AddClipOnnxImageEmbeddingGenerator(this IServiceCollection services,
        string exportFolder, ClipOnnxEmbeddingGeneratorOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentException.ThrowIfNullOrEmpty(exportFolder);
        return services.AddEmbeddingGenerator(_ => new ClipOnnxImageEmbeddingGenerator(exportFolder, options));
    }
}
