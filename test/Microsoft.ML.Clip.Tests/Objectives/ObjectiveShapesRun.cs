using System;
using System.Collections.Generic;
using System.Linq;
using Microsoft.ML.Clip.SampleData;
using Microsoft.ML;
using Microsoft.ML.Clip.Datasets;
using Microsoft.ML.Clip.Modeling;
using Microsoft.ML.Clip.Tokenization;
using Microsoft.ML.Clip.Training;
using Microsoft.ML.Clip.Training.Objectives;
using Microsoft.ML.Clip.Transforms;
using Microsoft.ML.Data;

namespace Microsoft.ML.Clip.Tests.Objectives;

/// <summary>
/// A small, quickly learnable slice of the built-in shapes data (3 shapes × 4 colours, large, centred, fixed
/// captions, 32 px) with a BPE tokenizer learned from its captions, and a tiny ViT to pretrain on it with any
/// objective: enough to show an objective learns within seconds on a shared CPU.
/// </summary>
internal static class ObjectiveShapesRun
{
    public static ShapesDatasetOptions Data(int count, int seed) => new()
    {
        Count = count,
        Seed = seed,
        ImageSize = 32,
        Split = ShapesSplit.All,
        Shapes = [ShapeKind.Circle, ShapeKind.Square, ShapeKind.Triangle],
        Colours = [ShapeColour.Red, ShapeColour.Green, ShapeColour.Blue, ShapeColour.Yellow],
        Sizes = [ShapeSize.Large],
        Positions = [ShapePosition.Center],
        HeldOutPairs = [],
        VariedCaptions = false,
    };

    /// <summary>The 12 class names ("red circle", ...).</summary>
    public static IReadOnlyList<string> ClassNames => ShapesDataset.ClassNames(Data(1, 0));

    /// <summary>The zero-shot prompt matching the fixed training captions ("a large {} in the …").</summary>
    public static string Template => LazyTemplate.Value;

    private static readonly Lazy<string> LazyTemplate = new(() =>
    {
        var mlContext = new MLContext(seed: 0);
        var first = ShapesDataset.ToDataView(mlContext, Data(1, 100));
        string caption = first.GetColumn<string>(ShapesColumns.Caption).First(), label = first.GetColumn<string>(ShapesColumns.Label).First();
        return caption.Replace(label, "{}");
    });

    private static readonly Lazy<ClipTokenizer> LazyTokenizer = new(() =>
    {
        var mlContext = new MLContext(seed: 0);
        var captions = ShapesDataset.ToDataView(mlContext, Data(512, 100)).GetColumn<string>(ShapesColumns.Caption).ToList();
        return ClipBpeTrainer.Train(captions, new ClipBpeTrainerOptions { VocabularySize = 600 });
    });

    public static ClipTokenizer Tokenizer => LazyTokenizer.Value;

    public static ClipConfig Architecture => new()
    {
        EmbedDim = 32,
        Vision = new VisionConfig { ImageSize = 32, Layers = 2, Width = 64, HeadWidth = 32, PatchSize = 8 },
        Text = new TextConfig { ContextLength = 16, VocabSize = Tokenizer.VocabularySize, Width = 64, Heads = 2, Layers = 1 },
    };

    /// <summary>Pretrains with <paramref name="objective"/> on <paramref name="count"/> shapes pairs (1/8 held out for validation).</summary>
    public static (MLContext Context, ClipEmbeddingTransformer Model, IDataView Data) Pretrain(
        ClipObjective objective, int count = 320, int epochs = 4, int batchSize = 32, double learningRate = 2e-3, double beta2 = 0.98, int warmup = 5)
    {
        var mlContext = new MLContext(seed: 1);
        var data = ShapesDataset.ToDataView(mlContext, Data(count, 1));
        var estimator = mlContext.Transforms.ClipPretrain(new ClipPretrainOptions
        {
            Architecture = Architecture,
            Tokenizer = Tokenizer,
            Objective = objective,
            ImageColumnName = ShapesColumns.ImageBytes,
            TextColumnName = ShapesColumns.Caption,
            Epochs = epochs,
            BatchSize = batchSize,
            ValidationFraction = 0.125,
            Trainer = new ClipTrainerOptions { LearningRate = learningRate, WarmupSteps = warmup, Beta2 = beta2 },
            Seed = 3,
        });
        return (mlContext, estimator.Fit(data), data);
    }

    /// <summary>
    /// Saves <paramref name="model"/> with Model.Save, scores 24 new shapes pairs in a second process with a plain
    /// Model.Load, and checks that both embedding columns are identical to in-process scoring.
    /// </summary>
    public static void AssertReloadsIdenticallyInAnotherProcess(MLContext mlContext, ITransformer model, string name)
    {
        using var temp = new TempDirectory();
        var raw = ShapesDataset.ToDataView(mlContext, Data(24, 9));
        var test = mlContext.Transforms.DropColumns(ShapesColumns.Image).Fit(raw).Transform(raw);
        string path = temp.File(name + ".zip");
        mlContext.Model.Save(model, test.Schema, path);
        var expected = model.Transform(test);
        var actual = ModelLoadProbe.TransformInNewProcess(mlContext, path, test, temp.Path);
        foreach (var column in new[] { "ImageEmbedding", "TextEmbedding" })
            Xunit.Assert.Equal(expected.GetColumn<float[]>(column).ToArray(), actual.GetColumn<float[]>(column).ToArray());
    }
}
