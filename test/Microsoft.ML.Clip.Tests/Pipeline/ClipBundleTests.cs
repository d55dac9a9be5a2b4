using System;
using System.Linq;
using Microsoft.ML;
using Microsoft.ML.Clip.Modeling;
using Microsoft.ML.Clip.Training;
using Microsoft.ML.Data;
using Xunit;

namespace Microsoft.ML.Clip.Tests.Pipeline;

/// <summary>Pretrained weights as pipeline stages: load from a file, fine-tune, score row by row after a reload.</summary>
public class ClipBundleTests
{
    public sealed class Pair
    {
        public byte[] ImageBytes { get; set; } = [];
        public string Text { get; set; } = "";
        public string Label { get; set; } = "";
    }

    public sealed class Embedded
    {
        [VectorType(32)] public float[] ImageEmbedding { get; set; } = [];
        [VectorType(32)] public float[] TextEmbedding { get; set; } = [];
    }

    [Trait("Category", "Fixtures")]
    [FixtureFact]
    public void WeightsSavedToSafetensorsLoadAsABundleWithIdenticalEmbeddings()
    {
        var trained = ClipStagesTestsAccess.Trained;
        using var temp = new TempDirectory();
        string path = temp.File("weights.safetensors");
        ClipWeights.Save(trained.Bundle.Model, path);
        var bundle = ClipModelBundle.Load(path, config: null, trained.Bundle.Tokenizer, trained.Bundle.Preprocessing);

        var mlContext = new MLContext(seed: 1);
        var data = ColourPairs.DataView(mlContext, 12, seed: 21);
        var fromFile = mlContext.Transforms.ClipImageEmbedding(bundle, inputColumnName: "ImageBytes")
            .Append(mlContext.Transforms.ClipTextEmbedding(bundle)).Fit(data).Transform(data);
        var original = trained.Transform(data);
        Assert.Equal(original.GetColumn<float[]>("ImageEmbedding").ToArray(), fromFile.GetColumn<float[]>("ImageEmbedding").ToArray());
        Assert.Equal(original.GetColumn<float[]>("TextEmbedding").ToArray(), fromFile.GetColumn<float[]>("TextEmbedding").ToArray());
    }

    [Trait("Category", "Fixtures")]
    [FixtureFact]
    public void FineTuningStartsFromThePretrainedWeightsAndLeavesThemUntouched()
    {
        var trained = ClipStagesTestsAccess.Trained;
        var before = trained.Bundle.Model.named_parameters().ToDictionary(p => p.name, p => p.parameter.clone());
        var mlContext = new MLContext(seed: 1);
        var data = ColourPairs.DataView(mlContext, 64, seed: 22);
        var tuned = mlContext.Transforms.ClipPretrain(new ClipPretrainOptions
        {
            InitialModel = trained.Bundle,
            ImageColumnName = "ImageBytes",
            Epochs = 1,
            BatchSize = 32,
            ValidationFraction = 0,
            Trainer = new ClipTrainerOptions { LearningRate = 1e-4, WarmupSteps = 1 },
        }).Fit(data);
        // The caller's model is unchanged; the tuned copy moved away from it, starting from a low loss.
        foreach (var (name, p) in trained.Bundle.Model.named_parameters())
            Assert.True(p.equal(before[name]).all().item<bool>(), $"{name} of the initial model changed");
        Assert.Contains(tuned.Bundle.Model.named_parameters(), p => !p.parameter.equal(before[p.name]).all().item<bool>());
        Assert.True(tuned.TrainingReport!.Losses[0].Loss < 2.6, $"first fine-tuning loss {tuned.TrainingReport.Losses[0].Loss:F3}: not a warm start");
    }

    [Trait("Category", "Fixtures")]
    [FixtureFact]
    public void PredictionEngineOnAReloadedClipModelMatchesBatchScoring()
    {
        var trained = ClipStagesTestsAccess.Trained;
        using var temp = new TempDirectory();
        var mlContext = new MLContext(seed: 1);
        var rows = ColourPairs.Rows(6, seed: 23).Select(r => new Pair { ImageBytes = r.ImageBytes, Text = r.Text, Label = r.Label }).ToList();
        var data = mlContext.Data.LoadFromEnumerable(rows);
        mlContext.Model.Save(trained, data.Schema, temp.File("clip.zip"));
        var reloaded = new MLContext(seed: 1).Model.Load(temp.File("clip.zip"), out _);
        var batch = reloaded.Transform(data);
        var images = batch.GetColumn<float[]>("ImageEmbedding").ToArray();
        var texts = batch.GetColumn<float[]>("TextEmbedding").ToArray();
        using var engine = mlContext.Model.CreatePredictionEngine<Pair, Embedded>(reloaded);
        for (int i = 0; i < rows.Count; i++)
        {
            var single = engine.Predict(rows[i]);
            // Batch of 6 against batches of one: other GEMM blocking and summation orders. Unit-norm components with
            // the rounding bound of ConcurrencyAndMemoryTests.EmbeddingRounding (K ≤ 256, two layers: 1e-5).
            for (int j = 0; j < 32; j++)
            {
                Assert.Equal(images[i][j], single.ImageEmbedding[j], 1e-5f);
                Assert.Equal(texts[i][j], single.TextEmbedding[j], 1e-5f);
            }
        }
    }
}
