using System.Collections.Generic;
using Microsoft.ML.Clip.Modeling;
using Microsoft.ML.Clip.Tokenization;
using Microsoft.ML.Clip.Transforms;
using Microsoft.ML.Data;
using Microsoft.ML.Runtime;
using TorchSharp;

namespace Microsoft.ML.Clip;

/// <summary>Extension methods that add ClipMlNet's stages to ML.NET's catalogs.</summary>
public static class ClipCatalog
{
    /// <summary>
    /// Applies the linear map <c>y = weight·x + bias</c> to a float vector column, optionally scaling the
    /// result to unit L2 norm. The tensors are copied; the model zip stores them.
    /// </summary>
    /// <param name="catalog">The transforms catalog.</param>
    /// <param name="outputColumnName">Name of the output column, a vector of <c>weight.shape[0]</c> floats.</param>
    /// <param name="weight">The matrix, shape [outputSize, inputSize].</param>
    /// <param name="bias">Optional bias, shape [outputSize].</param>
    /// <param name="inputColumnName">Name of the input column, a vector of <c>weight.shape[1]</c> floats; defaults to <paramref name="outputColumnName"/>.</param>
    /// <param name="normalize">Scale each output vector to unit L2 norm.</param>
    /// <example>
    /// <code>
    /// var pipeline = mlContext.Transforms.Concatenate("Features", "A", "B")
    ///     .Append(mlContext.Transforms.ProjectLinear("Projected", weight, inputColumnName: "Features"));
    /// </code>
    /// </example>
    public static LinearProjectionEstimator ProjectLinear(this TransformsCatalog catalog, string outputColumnName,
        torch.Tensor weight, torch.Tensor? bias = null, string? inputColumnName = null, bool normalize = false)
    {
        var env = CatalogUtils.GetEnvironment(catalog);
        var transformer = new LinearProjectionTransformer(env, outputColumnName, inputColumnName ?? outputColumnName, weight, bias, normalize);
        return new LinearProjectionEstimator(env, transformer);
    }

    /// <summary>
    /// Trains a CLIP model from scratch on image–caption pairs with CLIP's contrastive objective. The fitted
    /// transformer adds L2-normalized <c>ImageEmbedding</c> and <c>TextEmbedding</c> columns.
    /// </summary>
    /// <param name="catalog">The transforms catalog.</param>
    /// <param name="architecture">The model architecture (e.g. <see cref="ClipPresets.Tiny"/>, <see cref="ClipPresets.VitB32"/>).</param>
    /// <param name="tokenizer">The caption tokenizer.</param>
    /// <param name="imageColumnName">Images: MLImage (<c>LoadImages</c>) or encoded bytes (<c>LoadRawImageBytes</c>); the default
    /// <c>Image</c> reads the <c>mlContext.Data</c> loaders' <c>ImageBytes</c> when the input has only that.</param>
    /// <param name="textColumnName">Captions (String); the default <c>Text</c> reads the loaders' <c>Caption</c> when the input has only that.</param>
    /// <param name="epochs">Passes over the data.</param>
    /// <param name="batchSize">Pairs per contrastive batch.</param>
    /// <example>
    /// <code>
    /// var pipeline = mlContext.Transforms.LoadImages("Image", imageFolder, "ImagePath")
    ///     .Append(mlContext.Transforms.ClipPretrain(ClipPresets.Tiny, tokenizer, "Image", "Caption"));
    /// var model = pipeline.Fit(pairs);
    /// </code>
    /// </example>
    public static ClipPretrainEstimator ClipPretrain(this TransformsCatalog catalog, ClipConfig architecture, ClipTextTokenizer tokenizer,
        string imageColumnName = "Image", string textColumnName = "Text", int epochs = 10, int batchSize = 64) =>
        ClipPretrain(catalog, new ClipPretrainOptions
        {
            Architecture = architecture,
            Tokenizer = tokenizer,
            ImageColumnName = imageColumnName,
            TextColumnName = textColumnName,
            Epochs = epochs,
            BatchSize = batchSize,
        });

    /// <summary>
    /// Trains or fine-tunes a CLIP-family model on image–caption pairs with every setting of
    /// <see cref="ClipPretrainOptions"/>: objective, optimizer and schedule, accumulation, precision, device,
    /// validation, checkpoints and resumption, progress.
    /// </summary>
    /// <param name="catalog">The transforms catalog.</param>
    /// <param name="options">The settings.</param>
    public static ClipPretrainEstimator ClipPretrain(this TransformsCatalog catalog, ClipPretrainOptions options) =>
        new(CatalogUtils.GetEnvironment(catalog), options);

    /// <summary>
    /// Adds the L2-normalized CLIP embedding of an image column, a vector of
    /// <see cref="ClipModelBundle.EmbeddingSize"/> floats usable as features by any trainer.
    /// </summary>
    /// <param name="catalog">The transforms catalog.</param>
    /// <param name="model">A loaded CLIP model (<see cref="ClipModelBundle.Load(string, ClipConfig?, ClipTextTokenizer, Imaging.ImagePreprocessingOptions?, TorchSharp.torch.Device?, TorchSharp.torch.ScalarType)"/>, or a fitted ClipPretrain's <see cref="ClipEmbeddingTransformer.Bundle"/>).</param>
    /// <param name="outputColumnName">The embedding column.</param>
    /// <param name="inputColumnName">Images: MLImage, encoded bytes, or preprocessed pixels (Vector&lt;Single&gt; of 3 × size × size; the
    /// form <c>ConvertToOnnx</c> can convert); the default <c>Image</c> reads the loaders' <c>ImageBytes</c> when the input has only that.</param>
    /// <param name="batchSize">Images per forward pass.</param>
    public static ClipEmbeddingEstimator ClipImageEmbedding(this TransformsCatalog catalog, ClipModelBundle model,
        string outputColumnName = "ImageEmbedding", string inputColumnName = "Image", int batchSize = 32)
    {
        var env = CatalogUtils.GetEnvironment(catalog);
        return new ClipEmbeddingEstimator(env, new ClipEmbeddingTransformer(env, model, (outputColumnName, inputColumnName), null, batchSize));
    }

    /// <summary>Adds the L2-normalized CLIP embedding of a text column.</summary>
    /// <param name="catalog">The transforms catalog.</param>
    /// <param name="model">A loaded CLIP model.</param>
    /// <param name="outputColumnName">The embedding column.</param>
    /// <param name="inputColumnName">Texts (String) or token ids (Vector&lt;Int64&gt;/Vector&lt;Int32&gt;, at most the context length; the form
    /// <c>ConvertToOnnx</c> can convert); the default <c>Text</c> reads the loaders' <c>Caption</c> when the input has only that.</param>
    /// <param name="batchSize">Texts per forward pass.</param>
    public static ClipEmbeddingEstimator ClipTextEmbedding(this TransformsCatalog catalog, ClipModelBundle model,
        string outputColumnName = "TextEmbedding", string inputColumnName = "Text", int batchSize = 64)
    {
        var env = CatalogUtils.GetEnvironment(catalog);
        return new ClipEmbeddingEstimator(env, new ClipEmbeddingTransformer(env, model, null, (outputColumnName, inputColumnName), batchSize));
    }

    /// <summary>
    /// Zero-shot image classification: scores every image against the classes described by
    /// <paramref name="classNames"/> × <paramref name="templates"/> (CLIP's prompt ensembling; the class embeddings are
    /// computed when the estimator is fitted). Adds <c>Score</c>
    /// (softmax over the classes, slot names = class names) and <c>PredictedLabel</c> (a key whose values are
    /// the class names), ready for <c>MulticlassClassification.Evaluate</c> and <c>MapKeyToValue</c>.
    /// </summary>
    /// <param name="catalog">The transforms catalog.</param>
    /// <param name="model">A loaded or trained CLIP model.</param>
    /// <param name="classNames">The classes, e.g. "red circle", "dog".</param>
    /// <param name="templates">Prompts with <c>{}</c> for the class name; null: <see cref="PromptTemplates.Simple"/>
    /// (<see cref="PromptTemplates.ImageNet"/> holds CLIP's 80 ImageNet templates).</param>
    /// <param name="imageColumnName">Images: MLImage or encoded bytes; the default <c>Image</c> reads the loaders' <c>ImageBytes</c> when the input has only that.</param>
    /// <param name="scoreColumnName">The score vector column.</param>
    /// <param name="predictedLabelColumnName">The predicted class column.</param>
    /// <param name="batchSize">Images per forward pass.</param>
    public static ClipZeroShotEstimator ClipZeroShot(this TransformsCatalog catalog, ClipModelBundle model, IReadOnlyList<string> classNames,
        IReadOnlyList<string>? templates = null, string imageColumnName = "Image", string scoreColumnName = "Score",
        string predictedLabelColumnName = "PredictedLabel", int batchSize = 32)
    {
        return new ClipZeroShotEstimator(CatalogUtils.GetEnvironment(catalog), model, imageColumnName, classNames, templates ?? PromptTemplates.Simple,
            scoreColumnName, predictedLabelColumnName, batchSize);
    }
}
