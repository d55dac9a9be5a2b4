using System.Collections.Generic;
using Microsoft.ML.Clip.Evaluation;
using Microsoft.ML.Clip.Imaging;
using Microsoft.ML.Clip.Transforms;
using Microsoft.ML.Clip.Transforms.Batching;
using static TorchSharp.torch;

namespace Microsoft.ML.Clip.Training.Objectives.Filip;

/// <summary>
/// Image–text retrieval of a data view's pairs scored with FILIP's token-wise similarity: ClipPretrain's
/// validation for models trained with <see cref="FilipObjective"/>, and a way to evaluate one.
/// </summary>
public static class FilipRetrieval
{
    /// <summary>
    /// Encodes every row's image and caption to token features with <paramref name="bundle"/>'s model and ranks
    /// them with <see cref="FilipSimilarity.ScoreZeroPadded"/> through <see cref="RetrievalEvaluator.Evaluate"/>.
    /// </summary>
    public static RetrievalMetrics Evaluate(ClipModelBundle bundle, IDataView data, string imageColumnName, string textColumnName,
        int batchSize = 64, FilipSimilarity? similarity = null)
    {
        var (images, texts) = EncodePairs(bundle, data, imageColumnName, textColumnName, batchSize);
        using (images)
        using (texts)
            return RetrievalEvaluator.Evaluate(images, texts, similarity: (similarity ?? new FilipSimilarity()).ScoreZeroPadded);
    }

    /// <summary>
    /// Normalised token features of every row: images [N, Np, D] and texts [N, L, D] with invalid text positions
    /// set to zero vectors (<see cref="FilipTokenFeatures.ZeroInvalid"/>), on the CPU.
    /// </summary>
    public static (Tensor Images, Tensor Texts) EncodePairs(ClipModelBundle bundle, IDataView data, string imageColumnName, string textColumnName, int batchSize = 64)
    {
        var model = bundle.InferenceModel();
        var image = ImageInput.Bind(data.Schema, imageColumnName, new ClipImagePreprocessor(bundle.Preprocessing));
        var text = TextInput.Bind(data.Schema, textColumnName, bundle.Tokenizer, bundle.ContextLength, bundle.Model.Config.Text.VocabSize);
        var cursor = data.GetRowCursor([data.Schema[image.ColumnIndex], data.Schema[text.ColumnIndex]]);
        var imageParts = new List<Tensor>();
        var textParts = new List<Tensor>();
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        using (var pipeline = new ReadAheadPipeline(new ClipInputSession(cursor, image, text, []), cursor, batchSize))
        {
            while (pipeline.Next() is ClipInputBatch batch)
            {
                var pixels = batch.PixelTensor(bundle.Preprocessing.ImageSize).to(model.Device);
                var tokens = batch.TokenTensor(bundle.ContextLength).to(model.Device);
                imageParts.Add(FilipTokenFeatures.EncodeImage(model, pixels).cpu());
                var (features, mask) = FilipTokenFeatures.EncodeText(model, tokens);
                textParts.Add(FilipTokenFeatures.ZeroInvalid(features, mask).cpu());
            }
        }
        var images = cat(imageParts, 0);
        var texts = cat(textParts, 0);
        return (images.MoveToOuterDisposeScope(), texts.MoveToOuterDisposeScope());
    }
}
