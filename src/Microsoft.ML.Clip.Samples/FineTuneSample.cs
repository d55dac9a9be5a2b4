using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Linq;
using Microsoft.ML.Clip.SampleData;
using Microsoft.ML.Clip.Modeling;
using Microsoft.ML.Clip.Tokenization;
using Microsoft.ML.Clip.Training;
using Microsoft.ML.Clip.Transforms;
using Microsoft.ML.Data;
using static TorchSharp.torch;

namespace Microsoft.ML.Clip.Samples;

/// <summary>
/// Fine-tuning without forgetting, in numbers: a small CLIP pretrained on one half of the shapes (circle, square,
/// triangle in seven colours: domain A) is fine-tuned on the other half (star, cross, heart: domain B) three ways —
/// every weight trained, the image tower locked (LiT), and weight-space ensembles of the pretrained and the fine-tuned
/// weights (WiSE-FT) at several α — and each model's zero-shot accuracy is measured on both domains. Zero-shot accuracy
/// on held-out sets of both domains is watched during fine-tuning and drawn in artifacts/samples/finetune.
/// Options: --pretrain N (pairs of A, default 5000), --pretrain-epochs N (4), --finetune N (pairs of B, 2000),
/// --finetune-epochs N (2), --output folder.
/// </summary>
internal static class FineTuneSample
{
    private static readonly ShapeKind[] DomainA = [ShapeKind.Circle, ShapeKind.Square, ShapeKind.Triangle];
    private static readonly ShapeKind[] DomainB = [ShapeKind.Star, ShapeKind.Cross, ShapeKind.Heart];

    public static int Run(string[] args)
    {
        var a = new SampleArguments(args);
        int pretrainCount = a.Int("pretrain", 5000), pretrainEpochs = a.Int("pretrain-epochs", 4);
        int finetuneCount = a.Int("finetune", 2000), finetuneEpochs = a.Int("finetune-epochs", 2);
        string output = Path.GetFullPath(a.String("output", Path.Combine("artifacts", "samples", "finetune")));
        Directory.CreateDirectory(output);
        set_num_threads(Environment.ProcessorCount);
        var clock = Stopwatch.StartNew();
        var mlContext = new MLContext(seed: 1);

        // 1. Two domains of disjoint shapes; zero-shot classes are each domain's 21 (shape, colour) pairs. Held-out sets:
        //    "watch" sets (seen during fine-tuning, for the curves) and separate "test" sets for the table.
        IDataView Domain(ShapeKind[] shapes, long count, int seed) => ShapesDataset.ToDataView(mlContext, Options(shapes, count, seed));
        var classesA = ShapesDataset.ClassNames(Options(DomainA, 1, 0));
        var classesB = ShapesDataset.ClassNames(Options(DomainB, 1, 0));
        var templates = ShapesDataset.PromptTemplates;
        ClipZeroShotEvaluationSet Watch(string name, ShapeKind[] shapes, IReadOnlyList<string> classes, int seed) =>
            new(name, Domain(shapes, 400, seed), classes, templates) { ImageColumnName = ShapesColumns.ImageBytes, LabelColumnName = ShapesColumns.Label };
        var watched = new List<ClipZeroShotEvaluationSet> { Watch("A", DomainA, classesA, 11), Watch("B", DomainB, classesB, 12) };
        var tests = new[] { Watch("A", DomainA, classesA, 21), Watch("B", DomainB, classesB, 22) };
        Console.WriteLine($"Domain A: {string.Join(", ", DomainA)}; domain B: {string.Join(", ", DomainB)}; 21 classes each (7 colours); test sets of 400 images each.");

        // 2. One BPE vocabulary for both domains' words (a tokenizer choice, not training data: B's words are never seen
        //    by the model in pretraining).
        var captions = Domain(DomainA, 2000, 3).GetColumn<string>(ShapesColumns.Caption).Concat(Domain(DomainB, 2000, 4).GetColumn<string>(ShapesColumns.Caption));
        var tokenizer = ClipBpeTrainer.Train(captions, new ClipBpeTrainerOptions { VocabularySize = 1024 });
        var architecture = new ClipConfig
        {
            EmbedDim = 128,
            Vision = new VisionConfig { ImageSize = 64, PatchSize = 8, Layers = 4, Width = 128, HeadWidth = 32 },
            Text = new TextConfig { ContextLength = 24, VocabSize = tokenizer.VocabularySize, Width = 128, Heads = 4, Layers = 3 },
        };

        // 3. Pretrain on A.
        Console.WriteLine($"Pretraining on A: {pretrainCount:N0} pairs × {pretrainEpochs} epochs.");
        var pretrained = mlContext.Transforms.ClipPretrain(Settings(o =>
        {
            o.Architecture = architecture;
            o.Tokenizer = tokenizer;
            o.Epochs = pretrainEpochs;
            o.Trainer = new ClipTrainerOptions { LearningRate = 1e-3, WeightDecay = 0.1, WarmupSteps = 50, Precision = SamplePrecision.Training };
        })).Fit(Domain(DomainA, pretrainCount, 1));
        var pretrainReport = pretrained.TrainingReport!;
        var initial = pretrained.Bundle;

        // 4. Fine-tune on B: every weight, then the image tower locked (LiT), watching both domains every 10 steps.
        var bData = Domain(DomainB, finetuneCount, 2);
        ClipPretrainOptions FineTune(TowerLock? imageLock) => Settings(o =>
        {
            o.InitialModel = initial;
            o.Epochs = finetuneEpochs;
            o.ZeroShotEvaluations = watched;
            o.ZeroShotEverySteps = 10;
            o.Trainer = new ClipTrainerOptions
            {
                LearningRate = 5e-4, WeightDecay = 0.1, WarmupSteps = 10, Precision = SamplePrecision.Training,
                ImageTowerLock = imageLock, CacheLockedTowerFeatures = imageLock is not null,
            };
        });
        Console.WriteLine($"Fine-tuning on B: {finetuneCount:N0} pairs × {finetuneEpochs} epochs, all weights.");
        var full = mlContext.Transforms.ClipPretrain(FineTune(null)).Fit(bData);
        Console.WriteLine("Fine-tuning on B with the image tower locked (LiT).");
        var lit = mlContext.Transforms.ClipPretrain(FineTune(TowerLock.Full)).Fit(bData);

        // 5. Zero-shot accuracy on both test sets: pretrained, fine-tuned, LiT, and WiSE-FT ensembles of pretrained and
        //    fine-tuned; α chosen on the watched sets as ClipPretrainOptions.WeightEnsemble would.
        var rows = new List<(string Name, double A, double B, string Note)>();
        (double A, double B) Measure(ClipModelBundle bundle) => (Accuracy(mlContext, bundle, tests[0]), Accuracy(mlContext, bundle, tests[1]));
        void Row(string name, ClipModelBundle bundle, string note)
        {
            var (accA, accB) = Measure(bundle);
            rows.Add((name, accA, accB, note));
        }
        Row("pretrained on A (zero-shot on B: B's words never trained)", initial, $"{pretrainReport.Seconds:F0} s");
        Row("fine-tuned on B, all weights (α = 1)", full.Bundle, $"{full.TrainingReport!.Seconds:F0} s");
        Row("fine-tuned on B, image tower locked (LiT)", lit.Bundle, $"{lit.TrainingReport!.Seconds:F0} s");
        double bestWatched = double.NegativeInfinity, chosen = double.NaN;
        foreach (double alpha in new[] { 0.25, 0.5, 0.75 })
        {
            var ensemble = ClipModelBundle.Interpolate(initial, full.Bundle, alpha);
            double watchedMean = watched.Average(set => Accuracy(mlContext, ensemble, set));
            if (watchedMean > bestWatched) (bestWatched, chosen) = (watchedMean, alpha);
            Row($"WiSE-FT, α = {alpha.ToString(CultureInfo.InvariantCulture)}", ensemble, $"mean on the watch sets {watchedMean:P1}");
            ensemble.Model.Dispose();
        }

        string plot = Path.Combine(output, "finetune-zero-shot.png");
        FineTunePlot.Write([("all weights", full.TrainingReport!), ("LiT", lit.TrainingReport!)], plot);

        Console.WriteLine();
        Console.WriteLine("| model | zero-shot accuracy, domain A (21 classes) | zero-shot accuracy, domain B (21 classes) | mean | |");
        Console.WriteLine("|---|---|---|---|---|");
        foreach (var (name, accA, accB, note) in rows)
            Console.WriteLine(string.Format(CultureInfo.InvariantCulture, "| {0} | {1:P1} | {2:P1} | {3:P1} | {4} |", name, accA, accB, (accA + accB) / 2, note));
        Console.WriteLine(string.Format(CultureInfo.InvariantCulture, "| chance | {0:P1} | {0:P1} | | |", 1.0 / 21));
        Console.WriteLine($"WiSE-FT α chosen on the watch sets (not the test sets): {chosen.ToString(CultureInfo.InvariantCulture)}.");
        Console.WriteLine($"Zero-shot accuracy during fine-tuning: {plot}");
        Console.WriteLine($"Total time {clock.Elapsed.TotalMinutes:F1} min.");
        return 0;
    }

    private static ShapesDatasetOptions Options(ShapeKind[] shapes, long count, int seed) => new()
    {
        Count = count,
        Seed = seed,
        Split = ShapesSplit.All,
        Shapes = shapes,
        HeldOutPairs = [],
    };

    private static ClipPretrainOptions Settings(Action<ClipPretrainOptions> configure)
    {
        var options = new ClipPretrainOptions
        {
            ImageColumnName = ShapesColumns.ImageBytes,
            TextColumnName = ShapesColumns.Caption,
            BatchSize = 64,
            ValidationFraction = 0,
            InferenceDType = SamplePrecision.Inference,
            Seed = 1,
            Progress = new ConsoleTrainingProgress(50),
        };
        configure(options);
        return options;
    }

    /// <summary>Zero-shot accuracy of <paramref name="bundle"/> on <paramref name="set"/> through a ClipZeroShot stage and ML.NET's evaluator.</summary>
    private static double Accuracy(MLContext mlContext, ClipModelBundle bundle, ClipZeroShotEvaluationSet set)
    {
        var keys = mlContext.Data.LoadFromEnumerable(set.ClassNames.Select(c => new ClassRow { Label = c }));
        var stage = mlContext.Transforms.ClipZeroShot(bundle, set.ClassNames, set.Templates, imageColumnName: set.ImageColumnName, batchSize: 100)
            .Append(mlContext.Transforms.Conversion.MapValueToKey("LabelKey", set.LabelColumnName, keyData: keys));
        return mlContext.MulticlassClassification.Evaluate(stage.Fit(set.Data).Transform(set.Data), "LabelKey").MicroAccuracy;
    }

    private sealed class ClassRow
    {
        public string Label { get; set; } = "";
    }
}
