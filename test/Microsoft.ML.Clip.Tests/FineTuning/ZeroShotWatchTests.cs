using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using Microsoft.ML.Clip.Datasets;
using Microsoft.ML.Clip.Modeling;
using Microsoft.ML.Clip.SampleData;
using Microsoft.ML.Clip.Tests.Objectives;
using Microsoft.ML.Clip.Training;
using Microsoft.ML.Clip.Transforms;
using Microsoft.ML.Data;
using Xunit;

namespace Microsoft.ML.Clip.Tests.FineTuning;

/// <summary>ClipPretrain's watched zero-shot sets, best weights and weight-space ensembles, on the small shapes slice.</summary>
public class ZeroShotWatchTests
{
    private static readonly IReadOnlyList<string> Classes = ObjectiveShapesRun.ClassNames;
    private static IReadOnlyList<string> Templates => [ObjectiveShapesRun.Template];

    private static ShapesDatasetOptions Data(int count, int seed, params ShapeColour[] colours)
    {
        var options = ObjectiveShapesRun.Data(count, seed);
        if (colours.Length > 0) options.Colours = colours;
        return options;
    }

    private static ClipZeroShotEvaluationSet Set(MLContext mlContext, string name, ShapesDatasetOptions data) =>
        new(name, ShapesDataset.ToDataView(mlContext, data), Classes, Templates)
        {
            ImageColumnName = ShapesColumns.ImageBytes,
            LabelColumnName = ShapesColumns.Label,
        };

    private static ClipPretrainOptions Options(int epochs) => new()
    {
        Architecture = ObjectiveShapesRun.Architecture,
        Tokenizer = ObjectiveShapesRun.Tokenizer,
        ImageColumnName = ShapesColumns.ImageBytes,
        TextColumnName = ShapesColumns.Caption,
        Epochs = epochs,
        BatchSize = 32,
        ValidationFraction = 0,
        Trainer = new ClipTrainerOptions { LearningRate = 2e-3, WarmupSteps = 5 },
        Seed = 3,
    };

    /// <summary>Accuracy of a separate ClipZeroShot stage with <paramref name="bundle"/> over <paramref name="set"/>, from ML.NET's evaluator.</summary>
    private static double ClipZeroShotAccuracy(MLContext mlContext, ClipModelBundle bundle, ClipZeroShotEvaluationSet set)
    {
        var keys = mlContext.Data.LoadFromEnumerable(Classes.Select(c => new ClassRow { Label = c }));
        var stage = mlContext.Transforms.ClipZeroShot(bundle, Classes, Templates, imageColumnName: ShapesColumns.ImageBytes, batchSize: 64)
            .Append(mlContext.Transforms.Conversion.MapValueToKey("LabelKey", ShapesColumns.Label, keyData: keys));
        return mlContext.MulticlassClassification.Evaluate(stage.Fit(set.Data).Transform(set.Data), "LabelKey").MicroAccuracy;
    }

    private sealed class ClassRow
    {
        public string Label { get; set; } = "";
    }

    private sealed class Reports : IProgress<ClipTrainingProgress>
    {
        public List<ClipTrainingProgress> All { get; } = [];

        public void Report(ClipTrainingProgress value) => All.Add(value);
    }

    [Fact]
    public void WatchedAccuracyEqualsASeparateClipZeroShotEvaluation()
    {
        var mlContext = new MLContext(seed: 1);
        var all = Set(mlContext, "all", Data(60, 7));
        var red = Set(mlContext, "red", Data(30, 8, ShapeColour.Red));
        var progress = new Reports();
        var options = Options(epochs: 2);
        options.ZeroShotEvaluations = [all, red];
        options.ZeroShotEverySteps = 3;
        options.Progress = progress;
        var model = mlContext.Transforms.ClipPretrain(options).Fit(ShapesDataset.ToDataView(mlContext, Data(256, 1)));

        // 8 steps per epoch: evaluations every 3 optimizer steps (3, 6, 9, 12, 15) and at each epoch's end (8, 16).
        var report = model.TrainingReport!;
        Assert.Equal([3L, 6, 8, 9, 12, 15, 16], report.ZeroShot.Where(z => z.Set == "all").Select(z => z.Step));
        Assert.Equal([3L, 6, 8, 9, 12, 15, 16], report.ZeroShot.Where(z => z.Set == "red").Select(z => z.Step));
        Assert.Equal(7, progress.All.Count(p => p.ZeroShotAccuracy is { Count: 2 }));
        Assert.Contains(report.ZeroShot, z => z.Accuracy != report.ZeroShot[0].Accuracy); // the figures move with training

        // The last evaluation saw the returned weights: a ClipZeroShot stage over the same images counts the same hits,
        // and ML.NET's micro-accuracy divides the same two counts.
        foreach (var set in new[] { all, red })
            Assert.Equal(ClipZeroShotAccuracy(mlContext, model.Bundle, set), report.ZeroShot.Last(z => z.Set == set.Name).Accuracy);
    }

    [Fact]
    public void KeepBestEndsOnTheBestWeightsAndWritesThem()
    {
        var mlContext = new MLContext(seed: 1);
        var all = Set(mlContext, "all", Data(60, 7));
        using var folder = new TempDirectory();
        var options = Options(epochs: 3);
        options.ZeroShotEvaluations = [all];
        options.ZeroShotEverySteps = 2;
        options.KeepBestByZeroShot = true;
        options.CheckpointDirectory = folder.Path;
        var model = mlContext.Transforms.ClipPretrain(options).Fit(ShapesDataset.ToDataView(mlContext, Data(256, 1)));

        var report = model.TrainingReport!;
        var best = report.ZeroShot.MaxBy(z => z.Accuracy);
        Assert.NotNull(report.BestZeroShot);
        Assert.Equal(best.Accuracy, report.BestZeroShot!.Value.MeanAccuracy);
        Assert.Equal(report.ZeroShot.First(z => z.Accuracy == best.Accuracy).Step, report.BestZeroShot.Value.Step);
        Assert.Equal(best.Accuracy, ClipZeroShotAccuracy(mlContext, model.Bundle, all));
        Assert.True(File.Exists(Path.Combine(folder.Path, "best-zero-shot.safetensors")));
    }

    [Fact]
    public void WeightEnsembleScoresEachAlphaAndReturnsTheBest()
    {
        var mlContext = new MLContext(seed: 1);
        var initial = mlContext.Transforms.ClipPretrain(Options(epochs: 1)).Fit(ShapesDataset.ToDataView(mlContext, Data(128, 1))).Bundle;
        var all = Set(mlContext, "all", Data(60, 7));
        var options = Options(epochs: 1);
        options.Architecture = null;
        options.Tokenizer = null;
        options.InitialModel = initial;
        options.ZeroShotEvaluations = [all];
        options.WeightEnsemble = new ClipWeightEnsembleOptions { Alphas = [0, 0.5, 1] };
        var model = mlContext.Transforms.ClipPretrain(options).Fit(ShapesDataset.ToDataView(mlContext, Data(128, 2, ShapeColour.Red)));

        var report = model.TrainingReport!;
        Assert.Equal([0, 0.5, 1], report.WeightEnsemble.Select(e => e.Alpha));
        // α = 0 is the initial model exactly, so it scores what the initial model scores.
        Assert.Equal(ClipZeroShotAccuracy(mlContext, initial, all), report.WeightEnsemble[0].Score);
        // α = 1 is the fine-tuned model, which the last epoch's evaluation saw.
        Assert.Equal(report.ZeroShot.Last().Accuracy, report.WeightEnsemble[2].Score);
        var chosen = report.WeightEnsemble.MaxBy(e => e.Score);
        Assert.Equal(chosen.Alpha, report.ChosenAlpha);
        Assert.Equal(chosen.Score, ClipZeroShotAccuracy(mlContext, model.Bundle, all));

        options.WeightEnsemble = new ClipWeightEnsembleOptions { Alphas = [0.5, 1] };
        options.ZeroShotEvaluations = [];
        Assert.Throws<ArgumentException>(() => mlContext.Transforms.ClipPretrain(options).Fit(ShapesDataset.ToDataView(mlContext, Data(64, 2))));
    }
}
