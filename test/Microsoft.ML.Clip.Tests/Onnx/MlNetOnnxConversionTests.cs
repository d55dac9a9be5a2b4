using System;
using System.IO;
using System.Linq;
using Microsoft.ML.Clip.Modeling;
using Microsoft.ML.Clip.Tests.Modeling;
using Microsoft.ML.Clip.Tokenization;
using Microsoft.ML.Data;
using Xunit;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace Microsoft.ML.Clip.Tests.Onnx;

/// <summary>
/// ML.NET both ways: <c>mlContext.Model.ConvertToOnnx</c> on fitted pipelines with CLIP stages (and ML.NET's own stages
/// after them) gives one ONNX model whose outputs, run by ML.NET's <c>ApplyOnnxModel</c> (ONNX Runtime), equal the
/// pipeline's; and <c>ApplyOnnxModel</c> over an exported image encoder gives the embedding stage's embeddings.
/// </summary>
public class MlNetOnnxConversionTests(ITestOutputHelper output)
{
    // Same fp32 arithmetic in other kernels (libtorch against ONNX Runtime), as in OnnxExportParityTests: ~1e-6 on
    // unit-norm embeddings and probabilities; a wrong operation or a mixed-up column errs by far more.
    private const double Tol = 1e-4;
    private const int Rows = 30;

    public sealed class Row
    {
        [VectorType(3, 16, 16)] public float[] Pixels { get; set; } = [];
        [VectorType(8)] public long[] Tokens { get; set; } = [];
        public string Label { get; set; } = "";
    }

    private static readonly ClipTokenizer Tokenizer = ClipBpeTrainer.Train(["a red square", "a blue circle", "a green star"],
        new ClipBpeTrainerOptions { VocabularySize = 600 });

    // Templates: the class name alone. The micro model's context is 8 tokens, which a longer template would fill before
    // the class name, giving every class the same prompt.
    private static ClipModelBundle Bundle(ClipConfig? config = null)
    {
        manual_seed(21);
        var architecture = config ?? TinyConfigs.Micro;
        var model = new ClipModel(architecture with { Text = architecture.Text with { VocabSize = Tokenizer.VocabularySize } });
        model.eval();
        // A fresh initialisation maps every image to nearly one embedding (the class and positional embeddings dominate);
        // perturbed weights, as in the open_clip fixtures, make images and classes differ so that predictions differ.
        using (no_grad())
            foreach (var parameter in model.parameters().Where(p => p.dim() > 0))
                parameter.add_(randn_like(parameter) * 0.3);
        return new ClipModelBundle(model, Tokenizer);
    }

    private static IDataView Data(MLContext ml, ClipModelBundle bundle)
    {
        manual_seed(22);
        int size = bundle.Model.Config.Vision.ImageSize, context = bundle.Model.Config.Text.ContextLength, floats = 3 * size * size;
        using var pixels = randn(Rows, floats);
        using var tokens = OrtRunner.RandomTokens(bundle.Model.Config, Rows, seed: 22);
        var p = pixels.data<float>().ToArray();
        var t = tokens.data<long>().ToArray();
        var labels = new[] { "red", "blue", "green" };
        var rows = Enumerable.Range(0, Rows).Select(i => new Row
        {
            Pixels = p.AsSpan(i * floats, floats).ToArray(),
            Tokens = t.AsSpan(i * context, context).ToArray(),
            Label = labels[(i + (p[i * floats] > 0 ? 1 : 0)) % 3],
        });
        // The Row attributes give the micro model's sizes; other models' columns are sized here.
        var schema = SchemaDefinition.Create(typeof(Row));
        schema["Pixels"].ColumnType = new VectorDataViewType(NumberDataViewType.Single, 3, size, size);
        schema["Tokens"].ColumnType = new VectorDataViewType(NumberDataViewType.Int64, context);
        return ml.Data.LoadFromEnumerable(rows.ToList(), schema);
    }

    /// <summary>Converts <paramref name="model"/>, runs it with ApplyOnnxModel and compares each named column with the pipeline's.</summary>
    private void AssertOnnxMatches(MLContext ml, ITransformer model, IDataView data, params string[] columns)
    {
        using var temp = new TempDirectory();
        string path = temp.File("pipeline.onnx");
        using (var stream = File.Create(path)) ml.Model.ConvertToOnnx(model, data, stream);
        var expected = model.Transform(data);
        var onnx = ml.Transforms.ApplyOnnxModel(path).Fit(data).Transform(data);
        foreach (var column in columns)
        {
            var want = expected.GetColumn<float[]>(column).SelectMany(v => v).ToArray();
            // ApplyOnnxModel names a column after the graph output less ML.NET's ".output" suffix: the column's own name.
            var got = onnx.GetColumn<float[]>(column).SelectMany(v => v).ToArray();
            double diff = Approx.Equal(want, got, Tol, Tol, column);
            output.WriteLine($"{column}: max |Δ| {diff:E2} over {want.Length} values");
        }
    }

    [Fact]
    public void EmbeddingStagesConvertFromPixelAndTokenIdColumns()
    {
        var ml = new MLContext(seed: 1);
        var bundle = Bundle();
        var data = Data(ml, bundle);
        var model = ml.Transforms.ClipImageEmbedding(bundle, "ImageFeatures", "Pixels")
            .Append(ml.Transforms.ClipTextEmbedding(bundle, "TextFeatures", "Tokens")).Fit(data);
        AssertOnnxMatches(ml, model, data, "ImageFeatures", "TextFeatures");
    }

    [Fact]
    public void ZeroShotConvertsWithScoresAndPredictedKeys()
    {
        var ml = new MLContext(seed: 1);
        var bundle = Bundle();
        var data = Data(ml, bundle);
        var model = ml.Transforms.ClipZeroShot(bundle, ["red square", "blue circle", "green star"], ["{}"], imageColumnName: "Pixels").Fit(data);
        AssertOnnxMatches(ml, model, data, "Score");
        using var temp = new TempDirectory();
        using (var stream = File.Create(temp.File("z.onnx"))) ml.Model.ConvertToOnnx(model, data, stream);
        var onnx = ml.Transforms.ApplyOnnxModel(temp.File("z.onnx")).Fit(data).Transform(data);
        var want = model.Transform(data).GetColumn<uint>("PredictedLabel").ToArray();
        var got = onnx.GetColumn<uint[]>("PredictedLabel").Select(v => v.Single()).ToArray();
        Assert.Equal(want, got);
        Assert.True(want.Distinct().Count() > 1, "the random model should not predict one class for every row (a test that cannot fail)");
    }

    [Fact]
    public void SigLipZeroShotConvertsWithSigmoidScores()
    {
        var ml = new MLContext(seed: 1);
        var bundle = Bundle(TinyConfigs.Micro with { InitLogitBias = -2.0, InitLogitScale = Math.Log(10) });
        var data = Data(ml, bundle);
        var model = ml.Transforms.ClipZeroShot(bundle, ["red square", "blue circle"], ["{}"], imageColumnName: "Pixels").Fit(data);
        var scores = model.Transform(data).GetColumn<float[]>("Score").First();
        Assert.NotEqual(1f, scores.Sum(), 3); // sigmoids, not a softmax: the comparison below tells them apart
        AssertOnnxMatches(ml, model, data, "Score");
    }

    /// <summary>The timm towers and the SigLIP text tower inside ML.NET's conversion: embeddings, and SigLIP's sigmoid zero-shot.</summary>
    [Theory]
    [InlineData("eva02-tiny")]
    [InlineData("siglip2-tiny")]
    public void TimmTowersConvertWithTheirStages(string name)
    {
        var ml = new MLContext(seed: 1);
        var bundle = Bundle(Family.FamilyFixture.ConfigOf(name));
        var data = Data(ml, bundle);
        var model = ml.Transforms.ClipImageEmbedding(bundle, "ImageFeatures", "Pixels")
            .Append(ml.Transforms.ClipTextEmbedding(bundle, "TextFeatures", "Tokens"))
            .Append(ml.Transforms.ClipZeroShot(bundle, ["red square", "blue circle"], ["{}"], imageColumnName: "Pixels")).Fit(data);
        AssertOnnxMatches(ml, model, data, "ImageFeatures", "TextFeatures", "Score");
    }

    [Fact]
    public void LinearProbeAfterTheEmbeddingConvertsIntoOneModel()
    {
        var ml = new MLContext(seed: 1);
        var bundle = Bundle();
        var data = Data(ml, bundle);
        var pipeline = ml.Transforms.ClipImageEmbedding(bundle, "Features", "Pixels")
            .Append(ml.Transforms.Conversion.MapValueToKey("Label"))
            .Append(ml.MulticlassClassification.Trainers.ClipLinearProbe("Label", "Features"));
        var model = pipeline.Fit(data);
        AssertOnnxMatches(ml, model, data, "Features", "Score");
    }

    [Fact]
    public void InputsOnnxCannotExpressAreRefusedWithWhatToFeedInstead()
    {
        var ml = new MLContext(seed: 1);
        var bundle = Bundle();
        var texts = ml.Data.LoadFromEnumerable(new[] { new { Text = "a red square" }, new { Text = "a blue circle" } });
        var textModel = ml.Transforms.ClipTextEmbedding(bundle).Fit(texts);
        var error = Assert.Throws<NotSupportedException>(() => ml.Model.ConvertToOnnx(textModel, texts, Stream.Null));
        Assert.Contains("Text column 'Text'", error.Message);
        Assert.Contains("token ids", error.Message);

        var images = ml.Data.LoadFromEnumerable(new[] { new { Image = new byte[] { 1, 2, 3 } } });
        var imageModel = ml.Transforms.ClipImageEmbedding(bundle).Fit(images);
        var imageError = Assert.Throws<NotSupportedException>(() => ml.Model.ConvertToOnnx(imageModel, images, Stream.Null));
        Assert.Contains("Image column 'Image'", imageError.Message);
        Assert.Contains("preprocessed pixels", imageError.Message);
    }

    [Fact]
    public void ApplyOnnxModelOverTheExportedEncoderGivesTheStageEmbeddings()
    {
        var ml = new MLContext(seed: 1);
        var bundle = Bundle();
        var data = Data(ml, bundle);
        using var temp = new TempDirectory();
        var manifest = bundle.ExportOnnx(temp.File("export"));
        var expected = ml.Transforms.ClipImageEmbedding(bundle, "Embedding", "Pixels")
            .Append(ml.Transforms.ClipTextEmbedding(bundle, "TextEmbedding", "Tokens")).Fit(data).Transform(data);
        var onnx = ml.Transforms.CopyColumns(manifest.ImageInput, "Pixels")
            .Append(ml.Transforms.CopyColumns(manifest.TextInput, "Tokens"))
            .Append(ml.Transforms.ApplyOnnxModel(manifest.ImageOutput, manifest.ImageInput, Path.Combine(temp.File("export"), manifest.ImageEncoder)))
            .Append(ml.Transforms.ApplyOnnxModel(manifest.TextOutput, manifest.TextInput, Path.Combine(temp.File("export"), manifest.TextEncoder)))
            .Fit(data).Transform(data);
        foreach (var (stage, exported) in new[] { ("Embedding", manifest.ImageOutput), ("TextEmbedding", manifest.TextOutput) })
        {
            double diff = Approx.Equal(expected.GetColumn<float[]>(stage).SelectMany(v => v).ToArray(),
                onnx.GetColumn<float[]>(exported).SelectMany(v => v).ToArray(), Tol, Tol, exported);
            output.WriteLine($"{exported}: max |Δ| {diff:E2}");
        }
    }
}
