using System;
using System.Collections.Generic;
using Microsoft.ML.Clip.Imaging;
using Microsoft.ML.Clip.Transforms.Batching;
using static TorchSharp.torch;

namespace Microsoft.ML.Clip.Transforms.Clip;

/// <summary>
/// Encodes every row's image and caption of a data view with a bundle's scoring features, batch by batch on worker
/// threads: the one reading loop behind ClipPretrain's validation and retrieval evaluation with a model.
/// </summary>
internal static class PairEncoder
{
    /// <summary>
    /// Scoring features of the images [N, ...] and captions [N, ...] (<see cref="ClipModelBundle.Scoring"/>), fp32 on
    /// the CPU, row i of each from row i of <paramref name="data"/>. With <paramref name="onBadRow"/> an unreadable row
    /// is reported there and left out of both; without, it fails the read.
    /// </summary>
    public static (Tensor Images, Tensor Texts) Encode(ClipModelBundle bundle, IDataView data, string imageColumnName, string textColumnName,
        int batchSize, Action<ClipInputException>? onBadRow = null)
    {
        var model = bundle.InferenceModel();
        var scoring = bundle.Scoring;
        var image = ImageInput.Bind(data.Schema, imageColumnName, new ClipImagePreprocessor(bundle.Preprocessing));
        var text = TextInput.Bind(data.Schema, textColumnName, bundle.Tokenizer, bundle.ContextLength, bundle.Model.Config.Text.VocabSize);
        var cursor = SerialCursor.Create(data, [data.Schema[image.ColumnIndex], data.Schema[text.ColumnIndex]]);
        var imageParts = new List<Tensor>();
        var textParts = new List<Tensor>();
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        using (var pipeline = new ReadAheadPipeline(new ClipInputSession(cursor, image, text, [], onBadRow), cursor, batchSize))
        {
            while (pipeline.Next() is ClipInputBatch batch)
            {
                if (batch.Count == 0) continue; // every row of the batch was bad
                using var use = bundle.EnterUse();
                imageParts.Add(scoring.EncodeImages(model, batch.PixelTensor(bundle.Preprocessing.ImageSize).to(model.Device)));
                textParts.Add(scoring.EncodeTexts(model, batch.TokenTensor(bundle.ContextLength).to(model.Device)));
            }
        }
        if (imageParts.Count == 0)
            throw new InvalidOperationException("No readable image–caption pair to encode.");
        return (cat(imageParts, 0).MoveToOuterDisposeScope(), cat(textParts, 0).MoveToOuterDisposeScope());
    }
}
