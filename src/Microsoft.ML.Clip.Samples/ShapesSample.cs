using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Linq;
using Microsoft.ML.Clip.SampleData;
using Microsoft.ML;
using Microsoft.ML.Clip.Datasets;
using Microsoft.ML.Clip.Evaluation;
using Microsoft.ML.Clip.Modeling;
using Microsoft.ML.Clip.Tokenization;
using Microsoft.ML.Clip.Trainers;
using Microsoft.ML.Clip.Training;
using Microsoft.ML.Clip.Transforms;
using Microsoft.ML.Data;
using static TorchSharp.torch;

namespace Microsoft.ML.Clip.Samples;

/// <summary>
/// The main sample: pretrains a small CLIP on the built-in coloured-shapes data (generated in code, no
/// download), then measures zero-shot accuracy on shape/colour combinations never captioned in training,
/// image↔text retrieval on new pairs and a linear probe on the image embeddings, each beside its chance
/// level; plots the training curves, saves the pipeline and reloads it to score again.
/// Options: --train N (pairs, default 8000), --epochs N (default 6), --output folder.
/// </summary>
internal static class ShapesSample
{
    public static int Run(string[] args)
    {
        var a = new SampleArguments(args);
        int trainCount = a.Int("train", 8000), epochs = a.Int("epochs", 6);
        string output = Path.GetFullPath(a.String("output", Path.Combine("artifacts", "samples", "shapes")));
        Directory.CreateDirectory(output);
        set_num_threads(Environment.ProcessorCount);
        var clock = Stopwatch.StartNew();
        var mlContext = new MLContext(seed: 1);

        // 1. Data: images of coloured shapes with varied captions. Six (shape, colour) pairs are held out of
        //    training entirely; they come back as a zero-shot test.
        var trainOptions = new ShapesDatasetOptions { Count = trainCount, Seed = 1, Split = ShapesSplit.Train };
        var train = ShapesDataset.ToDataView(mlContext, trainOptions);
        var classNames = ShapesDataset.ClassNames(trainOptions);
        var heldOut = ShapesDataset.HeldOutPairs(trainOptions);
        Console.WriteLine($"Shapes data: {trainCount:N0} training pairs, {classNames.Count} shape/colour classes, held out of training: {string.Join(", ", heldOut)}.");

        // 2. A tokenizer learned from the training captions (CLIP's byte-level BPE; no vocabulary download).
        var tokenizer = ClipBpeTrainer.Train(train.GetColumn<string>(ShapesColumns.Caption), new ClipBpeTrainerOptions { VocabularySize = 1024 });
        Console.WriteLine($"Tokenizer: {tokenizer.VocabularySize} tokens learned from the captions.");

        // 3. Pretrain a small CLIP (ViT 64 px, patch 8) with CLIP's contrastive objective in bf16 mixed precision.
        var architecture = new ClipConfig
        {
            EmbedDim = 128,
            Vision = new VisionConfig { ImageSize = 64, PatchSize = 8, Layers = 4, Width = 128, HeadWidth = 32 },
            Text = new TextConfig { ContextLength = 24, VocabSize = tokenizer.VocabularySize, Width = 128, Heads = 4, Layers = 3 },
        };
        var pretrain = mlContext.Transforms.ClipPretrain(new ClipPretrainOptions
        {
            Architecture = architecture,
            Tokenizer = tokenizer,
            ImageColumnName = ShapesColumns.Image,
            TextColumnName = ShapesColumns.Caption,
            Epochs = epochs,
            BatchSize = 64,
            ValidationFraction = 0.1,
            Trainer = new ClipTrainerOptions { LearningRate = 1e-3, WeightDecay = 0.1, WarmupSteps = 50, Precision = SamplePrecision.Training },
            InferenceDType = SamplePrecision.Inference,
            Seed = 1,
            Progress = new ConsoleTrainingProgress(25),
        });
        var model = pretrain.Fit(train);
        var report = model.TrainingReport!;
        // Launched data-parallel (mpiexec -n N), every process returns the same model; rank 0 goes on alone.
        if (!report.IsMainProcess) return 0;
        Console.WriteLine($"Pretraining: {report.Steps} steps in {report.Seconds:F0} s" + (report.Processes > 1 ? $" on {report.Processes} processes." : "."));

        // 4. Zero-shot classification over all classes, on combinations never captioned in training and on seen ones.
        var classKeys = mlContext.Data.LoadFromEnumerable(classNames.Select(c => new ClassRow { Label = c }));
        var zeroShot = mlContext.Transforms.ClipZeroShot(model.Bundle, classNames, ShapesDataset.PromptTemplates, imageColumnName: ShapesColumns.Image)
            .Append(mlContext.Transforms.Conversion.MapValueToKey("LabelKey", ShapesColumns.Label, keyData: classKeys));
        var unseen = ShapesDataset.ToDataView(mlContext, new ShapesDatasetOptions { Count = 600, Seed = 2, Split = ShapesSplit.HeldOut });
        var seen = ShapesDataset.ToDataView(mlContext, new ShapesDatasetOptions { Count = 1000, Seed = 3, Split = ShapesSplit.Train });
        var zeroShotModel = zeroShot.Fit(seen);
        double unseenAccuracy = mlContext.MulticlassClassification.Evaluate(zeroShotModel.Transform(unseen), "LabelKey").MicroAccuracy;
        double seenAccuracy = mlContext.MulticlassClassification.Evaluate(zeroShotModel.Transform(seen), "LabelKey").MicroAccuracy;

        // 5. Retrieval on new pairs: image→caption and caption→image.
        var retrieval = mlContext.EvaluateRetrieval(model.Transform(ShapesDataset.ToDataView(mlContext,
            new ShapesDatasetOptions { Count = 1000, Seed = 4, Split = ShapesSplit.Train })));

        // 6. Linear probe (L-BFGS logistic regression with an L2 sweep) on the image embeddings.
        var embed = mlContext.Transforms.ClipImageEmbedding(model.Bundle, "Features", ShapesColumns.Image)
            .Append(mlContext.Transforms.Conversion.MapValueToKey("LabelKey", ShapesColumns.Label, keyData: classKeys));
        var probeTrain = ShapesDataset.ToDataView(mlContext, new ShapesDatasetOptions { Count = 2000, Seed = 5, Split = ShapesSplit.All });
        var probeTest = ShapesDataset.ToDataView(mlContext, new ShapesDatasetOptions { Count = 1000, Seed = 6, Split = ShapesSplit.All });
        var featurizer = embed.Fit(probeTrain);
        var probeTrainFeatures = mlContext.Data.Cache(featurizer.Transform(probeTrain), "Features", "LabelKey");
        var probe = mlContext.MulticlassClassification.Trainers.ClipLinearProbe("LabelKey", "Features");
        var probeModel = probe.Fit(probeTrainFeatures);
        double probeAccuracy = mlContext.MulticlassClassification.Evaluate(probeModel.Transform(featurizer.Transform(probeTest)), "LabelKey").MicroAccuracy;

        // 7. Curves.
        string plot = Path.Combine(output, "shapes-training.png");
        TrainingPlot.Write(report, plot);

        // 8. Save the whole pipeline (embeddings + zero-shot), reload it with a plain Model.Load, score again.
        string zip = Path.Combine(output, "shapes-clip.zip");
        var chain = new TransformerChain<ITransformer>(model, zeroShotModel);
        mlContext.Model.Save(chain, seen.Schema, zip);
        var reloaded = new MLContext(seed: 1).Model.Load(zip, out _);
        var before = chain.Transform(unseen).GetColumn<float[]>("Score").ToArray();
        var after = reloaded.Transform(unseen).GetColumn<float[]>("Score").ToArray();
        int identical = before.Zip(after).Count(p => p.First.SequenceEqual(p.Second));

        // 9. Export the model to ONNX for serving without libtorch, with what the ONNX-only sample reads beside it:
        //    the class names, the prompt templates and the 600 held-out test images with their labels.
        string onnx = Path.Combine(output, "onnx");
        var manifest = model.Bundle.ExportOnnx(onnx);
        File.WriteAllLines(Path.Combine(output, "classes.txt"), classNames);
        File.WriteAllLines(Path.Combine(output, "templates.txt"), ShapesDataset.PromptTemplates);
        ShapesDataset.WriteToFolder(Path.Combine(output, "test-images"), new ShapesDatasetOptions { Count = 600, Seed = 2, Split = ShapesSplit.HeldOut });

        int k = classNames.Count, n = retrieval.Count;
        Console.WriteLine();
        Console.WriteLine("| measurement | result | chance |");
        Console.WriteLine("|---|---|---|");
        Row($"zero-shot accuracy, {heldOut.Count} shape/colour pairs never captioned in training (600 images, {k} classes)", unseenAccuracy, 1.0 / k);
        Row($"zero-shot accuracy, seen pairs (1,000 images, {k} classes)", seenAccuracy, 1.0 / k);
        Row($"image→text Recall@1 / @5 / @10 ({n:N0} new pairs)", retrieval.ImageToText, n);
        Row($"text→image Recall@1 / @5 / @10 ({n:N0} new pairs)", retrieval.TextToImage, n);
        Row($"linear probe accuracy (ClipLinearProbe, λ = {probeModel.Sweep.ChosenL2Regularization:G3}; 2,000 train / 1,000 test images)", probeAccuracy, 1.0 / k);
        Console.WriteLine();
        Console.WriteLine($"Saved {zip} ({new FileInfo(zip).Length / 1e6:F1} MB); reloaded with Model.Load: {identical}/{before.Length} score vectors identical.");
        Console.WriteLine($"Training curves: {plot}");
        Console.WriteLine($"ONNX export ({manifest.Precision}, opset {manifest.Opset}): {onnx}; serve it without libtorch: " +
            "dotnet run --project src/Microsoft.ML.Clip.OnnxSample -c Release");
        Console.WriteLine($"Total time {clock.Elapsed.TotalMinutes:F1} min.");
        return identical == before.Length ? 0 : 1;
    }

    private static void Row(string what, double value, double chance) =>
        Console.WriteLine(string.Format(CultureInfo.InvariantCulture, "| {0} | {1:P1} | {2:P1} |", what, value, chance));

    private static void Row(string what, RetrievalDirectionMetrics m, int n) =>
        Console.WriteLine(string.Format(CultureInfo.InvariantCulture, "| {0} | {1:P1} / {2:P1} / {3:P1} | {4:P1} / {5:P1} / {6:P1} |",
            what, m.RecallAt1, m.RecallAt5, m.RecallAt10, 1.0 / n, 5.0 / n, 10.0 / n));

    private sealed class ClassRow
    {
        public string Label { get; set; } = "";
    }
}
