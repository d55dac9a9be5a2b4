using System;
using System.IO;
using System.Linq;
using Microsoft.ML;
using Microsoft.ML.Clip.Modeling;
using Microsoft.ML.Clip.Tokenization;
using Microsoft.ML.Clip.Training;
using Microsoft.ML.Clip.Transforms;
using Microsoft.ML.Data;
using Xunit;

namespace Microsoft.ML.Clip.Tests.Pipeline;

/// <summary>ClipPretrain, the embedding stages and zero-shot classification as ML.NET pipeline stages.</summary>
public class ClipStagesTests
{
    internal static readonly ClipConfig TestArchitecture = new()
    {
        EmbedDim = 32,
        Vision = new VisionConfig { ImageSize = 32, Layers = 2, Width = 64, HeadWidth = 32, PatchSize = 8 },
        Text = new TextConfig { ContextLength = 16, VocabSize = 49408, Width = 64, Heads = 2, Layers = 2 },
    };

    private static readonly Lazy<ClipTokenizer> Tokenizer = new(() => ClipTokenizer.FromOpenAIMergesFile(Fixtures.VocabularyPath));

    private static readonly Lazy<(MLContext Context, ClipEmbeddingTransformer Model, IDataView Data)> Trained = new(() =>
    {
        var mlContext = new MLContext(seed: 1);
        var data = ColourPairs.DataView(mlContext, 256);
        var estimator = mlContext.Transforms.ClipPretrain(new ClipPretrainOptions
        {
            Architecture = TestArchitecture,
            Tokenizer = Tokenizer.Value,
            ImageColumnName = "ImageBytes",
            Epochs = 4,
            BatchSize = 32,
            ValidationFraction = 0.125,
            Trainer = new ClipTrainerOptions { LearningRate = 2e-3, WarmupSteps = 5 },
            Seed = 3,
        });
        return (mlContext, estimator.Fit(data), data);
    });

    [Trait("Category", "Fixtures")]
    [FixtureFact]
    public void PretrainLearnsAndReportsValidationRecall()
    {
        var (_, model, _) = Trained.Value;
        var report = model.TrainingReport!;
        // About 7/8 of 256 rows train (ML.NET's random split), in whole batches of 32, for 4 epochs.
        Assert.Equal(report.Losses.Count, report.Steps);
        Assert.Equal(0, report.Steps % 4);
        Assert.InRange(report.Steps / 4, 6, 7);
        double first = report.Losses.Take(3).Average(l => l.Loss), last = report.Losses.TakeLast(3).Average(l => l.Loss);
        // A batch of 32 holds 8 pairs of each colour whose captions are identical, so the loss cannot go below
        // ln 8 ≈ 2.08 (from ln 32 ≈ 3.47 for an untrained model): reaching close to that floor means colour is learned.
        Assert.True(first > 2.9 && last < 2.35, $"loss {first:F3} -> {last:F3}");
        Assert.Equal(4, report.Validation.Count);
        // 32 validation pairs over 4 colours: a caption matches 8 images equally well, so chance R@1 is 1/32
        // and a perfect colour model reaches about 1/8 per direction; R@5 well above 5/32 shows colour learned.
        var lastValidation = report.Validation[^1];
        Assert.True(lastValidation.MeanRecallAt5 > 0.3, $"validation R@5 {lastValidation.MeanRecallAt5:F3}");
    }

    [Trait("Category", "Fixtures")]
    [FixtureFact]
    public void EmbeddingsAreNormalizedAndMatchingPairsScoreHighest()
    {
        var (mlContext, model, _) = Trained.Value;
        var test = ColourPairs.DataView(mlContext, 40, seed: 9);
        var scored = model.Transform(test);
        var images = scored.GetColumn<float[]>("ImageEmbedding").ToArray();
        var texts = scored.GetColumn<float[]>("TextEmbedding").ToArray();
        var labels = scored.GetColumn<string>("Label").ToArray();
        Assert.All(images, v => Assert.Equal(1.0, Math.Sqrt(v.Sum(x => x * x)), 4));
        Assert.All(texts, v => Assert.Equal(32, v.Length));
        // Each image must be closer to a caption of its own colour than to any caption of another colour.
        int correct = 0;
        for (int i = 0; i < images.Length; i++)
        {
            int best = Enumerable.Range(0, texts.Length).MaxBy(j => Dot(images[i], texts[j]));
            if (labels[best] == labels[i]) correct++;
        }
        Assert.True(correct >= 0.9 * images.Length, $"{correct}/{images.Length} images retrieve a caption of their colour");
    }

    [Trait("Category", "Fixtures")]
    [FixtureFact]
    public void ZeroShotScoresEvaluateAsAMulticlassClassifier()
    {
        var (mlContext, model, _) = Trained.Value;
        var classes = ColourPairs.Colours.Select(c => c.Name).ToArray();
        var pipeline = mlContext.Transforms.ClipZeroShot(model.Bundle, classes, ["a {} picture"], imageColumnName: "ImageBytes")
            .Append(mlContext.Transforms.Conversion.MapValueToKey("LabelKey", "Label", keyData: mlContext.Data.LoadFromEnumerable(classes.Select(c => new { Label = c }))));
        var test = ColourPairs.DataView(mlContext, 80, seed: 11);
        var scored = pipeline.Fit(test).Transform(test);
        var slotNames = default(VBuffer<ReadOnlyMemory<char>>);
        scored.Schema["Score"].GetSlotNames(ref slotNames);
        Assert.Equal(classes, slotNames.DenseValues().Select(s => s.ToString()));
        var metrics = mlContext.MulticlassClassification.Evaluate(scored, labelColumnName: "LabelKey");
        Assert.True(metrics.MicroAccuracy > 0.9, $"zero-shot accuracy {metrics.MicroAccuracy:F3} (chance 0.25)");
        var predicted = mlContext.Transforms.Conversion.MapKeyToValue("PredictedName", "PredictedLabel").Fit(scored).Transform(scored)
            .GetColumn<string>("PredictedName").ToArray();
        Assert.True(predicted.Zip(scored.GetColumn<string>("Label")).Count(p => p.First == p.Second) >= 72);
    }

    [Trait("Category", "Fixtures")]
    [Trait("Category", "Slow")]
    [FixtureFact]
    public void TrainedModelAndZeroShotReloadInAnotherProcessWithIdenticalScores()
    {
        var (mlContext, model, _) = Trained.Value;
        using var temp = new TempDirectory();
        var test = ColourPairs.DataView(mlContext, 20, seed: 5);
        var classes = ColourPairs.Colours.Select(c => c.Name).ToArray();
        var pipeline = mlContext.Transforms.ClipZeroShot(model.Bundle, classes, PromptTemplates.Simple, imageColumnName: "ImageBytes");
        var chain = new TransformerChain<ITransformer>(model, pipeline.Fit(test));
        string path = temp.File("clip.zip");
        mlContext.Model.Save(chain, test.Schema, path);

        var expected = chain.Transform(test);
        var actual = ModelLoadProbe.TransformInNewProcess(mlContext, path, test, temp.Path);
        foreach (var column in new[] { "ImageEmbedding", "TextEmbedding", "Score" })
            Assert.Equal(expected.GetColumn<float[]>(column).ToArray(), actual.GetColumn<float[]>(column).ToArray());
        Assert.Equal(expected.GetColumn<uint>("PredictedLabel").ToArray(), actual.GetColumn<uint>("PredictedLabel").ToArray());
    }

    [Trait("Category", "Fixtures")]
    [FixtureFact]
    public void WrongColumnTypesNameTheColumn()
    {
        var (mlContext, model, data) = Trained.Value;
        var ex = Assert.ThrowsAny<ArgumentException>(() => mlContext.Transforms.ClipImageEmbedding(model.Bundle, inputColumnName: "Text").Fit(data));
        Assert.Contains("'Text'", ex.Message);
        Assert.Contains("Vector<Byte>", ex.Message);
        var missing = Assert.ThrowsAny<ArgumentException>(() => mlContext.Transforms.ClipTextEmbedding(model.Bundle, inputColumnName: "Caption").Fit(data));
        Assert.Contains("'Caption'", missing.Message);
    }

    internal static ClipEmbeddingTransformer TrainedModel => Trained.Value.Model;

    private static float Dot(float[] a, float[] b) => a.Zip(b).Sum(p => p.First * p.Second);
}

/// <summary>The colour model trained once for the pipeline tests, shared with other test classes.</summary>
internal static class ClipStagesTestsAccess
{
    public static ClipEmbeddingTransformer Trained => ClipStagesTests.TrainedModel;
}
