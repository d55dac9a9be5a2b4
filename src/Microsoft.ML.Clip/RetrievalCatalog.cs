using System;
using System.Collections.Generic;
using Microsoft.ML;
using Microsoft.ML.Clip.Evaluation;
using Microsoft.ML.Clip.Transforms;
using Microsoft.ML.Clip.Transforms.Clip;
using Microsoft.ML.Data;
using Microsoft.ML.Runtime;
using static TorchSharp.torch;

namespace Microsoft.ML.Clip;

/// <summary>ML.NET entry point for <see cref="RetrievalEvaluator"/>.</summary>
public static class RetrievalCatalog
{
    private const int BlockRows = 4096;

    /// <summary>
    /// Image–text retrieval metrics for the rows of <paramref name="data"/>: row i's image embedding and text
    /// embedding are a matching pair; every image queries all texts and every text all images (Recall@1/5/10,
    /// mean and median rank; see <see cref="RetrievalEvaluator.Evaluate"/> for the rank and tie rules).
    /// </summary>
    /// <param name="mlContext">The ML.NET context.</param>
    /// <param name="data">Rows with the two embedding columns, for example the output of CLIP image and text embedding stages.</param>
    /// <param name="imageEmbeddingColumnName">A known-size vector of <see cref="float"/>.</param>
    /// <param name="textEmbeddingColumnName">A known-size vector of <see cref="float"/>; with the default similarity, of the same size.</param>
    /// <param name="chunkSize">Queries scored at once (memory ∝ chunkSize × rows).</param>
    /// <param name="similarity">Null for cosine similarity; otherwise <c>(images, texts) → [images, texts]</c> scores (see <see cref="RetrievalEvaluator.Evaluate"/>).</param>
    /// <param name="device">Where to compute (default: CPU). The embeddings are read into memory once (4 bytes × rows × width per column).</param>
    /// <example>
    /// <code>
    /// var metrics = mlContext.EvaluateRetrieval(embedded, "ImageEmbedding", "TextEmbedding");
    /// Console.WriteLine($"image→text R@1 {metrics.ImageToText.RecallAt1:P1}, text→image R@1 {metrics.TextToImage.RecallAt1:P1}");
    /// </code>
    /// </example>
    public static RetrievalMetrics EvaluateRetrieval(this MLContext mlContext, IDataView data,
        string imageEmbeddingColumnName = "ImageEmbedding", string textEmbeddingColumnName = "TextEmbedding",
        int chunkSize = 1024, Func<Tensor, Tensor, Tensor>? similarity = null, Device? device = null)
    {
        Contracts.CheckValue(mlContext, nameof(mlContext));
        var host = ((IHostEnvironment)mlContext).Register(nameof(RetrievalEvaluator));
        host.CheckValue(data, nameof(data));
        host.CheckNonEmpty(imageEmbeddingColumnName, nameof(imageEmbeddingColumnName));
        host.CheckNonEmpty(textEmbeddingColumnName, nameof(textEmbeddingColumnName));
        if (chunkSize < 1)
            throw host.ExceptParam(nameof(chunkSize), $"The chunk size must be at least 1; got {chunkSize}.");

        var (imageColumn, imageWidth) = FloatVectorColumn.Find(host, data.Schema, imageEmbeddingColumnName, "image embedding");
        var (textColumn, textWidth) = FloatVectorColumn.Find(host, data.Schema, textEmbeddingColumnName, "text embedding");
        if (similarity is null && imageWidth != textWidth)
            throw host.ExceptSchemaMismatch(nameof(data), "text embedding", textEmbeddingColumnName,
                $"Vector<Single, {imageWidth}> (the width of image embedding column '{imageEmbeddingColumnName}')",
                data.Schema[textColumn.Index].Type.ToString());

        var (images, texts, rows) = Read(host, data, imageColumn, imageWidth, textColumn, textWidth);
        if (rows == 0)
            throw host.ExceptParam(nameof(data), "Retrieval evaluation needs at least one row.");

        using var scope = NewDisposeScope();
        var imageTensor = ToTensor(images, rows, imageWidth, device);
        var textTensor = ToTensor(texts, rows, textWidth, device);
        return RetrievalEvaluator.Evaluate(imageTensor, textTensor, chunkSize, similarity);
    }

    /// <summary>
    /// Image–text retrieval metrics for the pairs of <paramref name="data"/> scored by <paramref name="model"/> as its
    /// training objective taught (<see cref="ClipModelBundle.Scoring"/>: FILIP's token-wise similarity for a FILIP
    /// model, which embedding columns cannot carry). Row i's image and caption are a matching pair.
    /// </summary>
    /// <param name="mlContext">The ML.NET context.</param>
    /// <param name="data">Rows with an image column (MLImage or encoded bytes) and a caption column.</param>
    /// <param name="model">The model that encodes and scores the pairs.</param>
    /// <param name="imageColumnName">The image column; the default <c>Image</c> reads the loaders' <c>ImageBytes</c> when the data has only that.</param>
    /// <param name="textColumnName">The caption column; the default <c>Text</c> reads the loaders' <c>Caption</c> when the data has only that.</param>
    /// <param name="batchSize">Pairs encoded per forward pass.</param>
    /// <param name="chunkSize">Queries scored at once.</param>
    public static RetrievalMetrics EvaluateRetrieval(this MLContext mlContext, IDataView data, ClipModelBundle model,
        string imageColumnName = "Image", string textColumnName = "Text", int batchSize = 64, int chunkSize = 1024)
    {
        Contracts.CheckValue(mlContext, nameof(mlContext));
        var host = ((IHostEnvironment)mlContext).Register(nameof(RetrievalEvaluator));
        host.CheckValue(data, nameof(data));
        host.CheckValue(model, nameof(model));
        if (batchSize < 1 || chunkSize < 1)
            throw host.ExceptParam(batchSize < 1 ? nameof(batchSize) : nameof(chunkSize), "The batch and chunk sizes must be at least 1.");
        var (images, texts) = PairEncoder.Encode(model, data, imageColumnName, textColumnName, batchSize);
        using (images)
        using (texts)
            return model.Scoring.EvaluateRetrieval(images, texts, chunkSize);
    }

    /// <summary>Streams both columns into blocks of <see cref="BlockRows"/> rows (dense, row-major).</summary>
    private static (List<float[]> images, List<float[]> texts, long rows) Read(IHost host, IDataView data,
        DataViewSchema.Column imageColumn, int imageWidth, DataViewSchema.Column textColumn, int textWidth)
    {
        var images = new List<float[]>();
        var texts = new List<float[]>();
        long rows = 0;
        using var cursor = data.GetRowCursor(new[] { imageColumn, textColumn });
        var getImage = cursor.GetGetter<VBuffer<float>>(imageColumn);
        var getText = cursor.GetGetter<VBuffer<float>>(textColumn);
        VBuffer<float> image = default, text = default;
        while (cursor.MoveNext())
        {
            host.CheckAlive();
            int inBlock = (int)(rows % BlockRows);
            if (inBlock == 0)
            {
                images.Add(new float[(long)BlockRows * imageWidth]);
                texts.Add(new float[(long)BlockRows * textWidth]);
            }
            getImage(ref image);
            getText(ref text);
            image.CopyTo(images[^1].AsSpan(inBlock * imageWidth, imageWidth));
            text.CopyTo(texts[^1].AsSpan(inBlock * textWidth, textWidth));
            rows++;
        }
        return (images, texts, rows);
    }

    private static Tensor ToTensor(List<float[]> blocks, long rows, int width, Device? device)
    {
        var result = empty(new[] { rows, (long)width }, ScalarType.Float32);
        var accessor = result.data<float>();
        long done = 0;
        foreach (var block in blocks)
        {
            long count = Math.Min(BlockRows, rows - done);
            accessor.CopyFrom(new ReadOnlySpan<float>(block, 0, (int)(count * width)), 0, done * width);
            done += count;
        }
        return device is null || device.type == TorchSharp.DeviceType.CPU ? result : result.to(device);
    }
}
