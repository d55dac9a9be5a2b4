using System;
using System.IO;
using System.Linq;
using Microsoft.ML;
using Microsoft.ML.Clip.Datasets;
using Microsoft.ML.Clip.Modeling;
using Microsoft.ML.Clip.Tokenization;
using Microsoft.ML.Clip.Training;
using Microsoft.ML.Data;
using Xunit;

namespace Microsoft.ML.Clip.Tests.Pipeline;

/// <summary>
/// The stages' default columns (<c>Image</c>, <c>Text</c>) read the loaders' <c>ImageBytes</c> / <c>Caption</c>
/// when the input has only those; an explicit other name is never replaced.
/// </summary>
public class DefaultColumnNamesTests
{
    internal static readonly ClipConfig Architecture = new()
    {
        EmbedDim = 16,
        Vision = new VisionConfig { ImageSize = 32, Layers = 1, Width = 32, HeadWidth = 16, PatchSize = 16 },
        Text = new TextConfig { ContextLength = 8, VocabSize = 600, Width = 32, Heads = 2, Layers = 1 },
    };

    [Fact]
    public void ManifestLoaderOutputTrainsAndEmbedsWithDefaultColumnNames()
    {
        using var dir = new TempDirectory();
        var rows = ColourPairs.Rows(16).ToArray();
        using (var manifest = new StreamWriter(dir.File("pairs.csv")))
        {
            manifest.WriteLine("path,caption");
            for (int i = 0; i < rows.Length; i++)
            {
                File.WriteAllBytes(dir.File($"{i}.png"), rows[i].ImageBytes);
                manifest.WriteLine($"{i}.png,{rows[i].Text}");
            }
        }
        var mlContext = new MLContext(seed: 1);
        var data = mlContext.Data.LoadFromImageManifest(dir.File("pairs.csv"));
        var tokenizer = ClipBpeTrainer.Train(rows.Select(r => r.Text), new ClipBpeTrainerOptions { VocabularySize = 600 });

        var model = mlContext.Transforms.ClipPretrain(Architecture, tokenizer, epochs: 1, batchSize: 8).Fit(data);
        Assert.True(model.TrainingReport!.Steps >= 1);
        Assert.Equal((ClipDatasetColumns.ImageBytes, ClipDatasetColumns.Caption), (model.Image!.Value.Input, model.Text!.Value.Input));

        var embedded = mlContext.Transforms.ClipImageEmbedding(model.Bundle)
            .Append(mlContext.Transforms.ClipTextEmbedding(model.Bundle))
            .Fit(data).Transform(data);
        Assert.Equal(16, embedded.GetColumn<float[]>("ImageEmbedding").Count());
        Assert.All(embedded.GetColumn<float[]>("TextEmbedding"), v => Assert.Equal(16, v.Length));
        var zeroShot = mlContext.Transforms.ClipZeroShot(model.Bundle, ["red", "blue"]).Fit(data).Transform(data);
        Assert.Equal(16, zeroShot.GetColumn<uint>("PredictedLabel").Count());
        Assert.Equal(16, mlContext.EvaluateRetrieval(data, model.Bundle).Count);
    }

    [Fact]
    public void AnExplicitNameIsNotReplacedAndTheDefaultsErrorNamesBoth()
    {
        var mlContext = new MLContext(seed: 1);
        var data = mlContext.Data.LoadFromEnumerable(new[] { new { ImageBytes = ColourPairs.Rows(1).First().ImageBytes, Caption = "a red picture" } });
        var tokenizer = ClipBpeTrainer.Train(["a red picture"], new ClipBpeTrainerOptions { VocabularySize = 600 });
        var bundle = new ClipModelBundle(new ClipModel(Architecture), tokenizer);

        var explicitName = Assert.ThrowsAny<Exception>(() => mlContext.Transforms.ClipImageEmbedding(bundle, inputColumnName: "Picture").Fit(data).Transform(data));
        Assert.Contains("'Picture' not found", explicitName.Message);
        Assert.DoesNotContain("'ImageBytes'", explicitName.Message);

        var other = mlContext.Data.LoadFromEnumerable(new[] { new { Words = "a red picture" } });
        var missing = Assert.ThrowsAny<Exception>(() => mlContext.Transforms.ClipTextEmbedding(bundle).Fit(other).Transform(other));
        Assert.Contains("'Text'", missing.Message);
        Assert.Contains("'Caption'", missing.Message);
    }
}
