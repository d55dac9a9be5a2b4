using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Linq;
using Microsoft.ML;
using Microsoft.ML.Clip.Datasets;
using Microsoft.ML.Clip.Modeling;
using Microsoft.ML.Clip.Tokenization;
using Microsoft.ML.Clip.Trainers;
using Microsoft.ML.Clip.Training;
using Microsoft.ML.Data;
using static TorchSharp.torch;

namespace Microsoft.ML.Clip.Samples;

/// <summary>
/// The real-data benchmark: contrastive pretraining of a small CLIP on the 60,000 Fashion-MNIST training images
/// with captions from the class names and varied templates, then zero-shot accuracy on the 10,000 test images,
/// and a linear probe (ClipLinearProbe with its sweep) on CLIP embeddings beside logistic regression on raw
/// pixels, both on the full test set. Needs the files of Debian's <c>dataset-fashion-mnist</c> package
/// (<c>/usr/share/datasets/fashion-mnist</c>) or <c>--folder</c>. Options: --epochs N (default 3), --probe-rows N.
/// </summary>
internal static class FashionMnistSample
{
    private static readonly string[] Templates =
    [
        "a photo of a {}.", "a {}.", "a picture of the {}.", "a black and white photo of a {}.",
        "a low resolution photo of the {}.", "an image of a {}, a type of clothing.", "the {}.", "a product photo of a {}.",
    ];

    public static int Run(string[] args)
    {
        var a = new SampleArguments(args);
        if (FashionMnistSampleParts.FindFolder(a) is not { } folder)
            return 2;
        int epochs = a.Int("epochs", 3), probeRows = a.Int("probe-rows", 20_000);
        set_num_threads(Environment.ProcessorCount);
        var clock = Stopwatch.StartNew();
        var mlContext = new MLContext(seed: 1);
        var options = new FashionMnistOptions { CaptionTemplates = Templates };
        var train = mlContext.Data.LoadFashionMnist(folder, FashionMnistSplit.Train, options);
        var test = mlContext.Data.LoadFashionMnist(folder, FashionMnistSplit.Test, options);

        var tokenizer = ClipBpeTrainer.Train(train.GetColumn<string>("Caption"), new ClipBpeTrainerOptions { VocabularySize = 1024 });
        var architecture = FashionMnistSampleParts.Architecture(tokenizer.VocabularySize, contextLength: 24);
        Console.WriteLine($"Pretraining on 60,000 Fashion-MNIST images × {Templates.Length} caption templates, {epochs} epochs ...");
        var model = mlContext.Transforms.ClipPretrain(new ClipPretrainOptions
        {
            Architecture = architecture,
            Tokenizer = tokenizer,
            ImageColumnName = "ImageBytes",
            TextColumnName = "Caption",
            Epochs = epochs,
            BatchSize = 128,
            ValidationFraction = 0.02,
            Trainer = new ClipTrainerOptions { LearningRate = 1e-3, WeightDecay = 0.1, WarmupSteps = 100, Precision = SamplePrecision.Training },
            InferenceDType = SamplePrecision.Inference,
            Seed = 1,
            LogEverySteps = 100,
            Progress = new ConsoleTrainingProgress(100),
        }).Fit(train);
        Console.WriteLine($"Pretraining: {model.TrainingReport!.Steps} steps in {model.TrainingReport.Seconds:F0} s.");

        // Zero-shot on the 10,000 test images: class names × the same templates, ensembled.
        double zeroShotAccuracy = FashionMnistSampleParts.ZeroShotAccuracy(mlContext, model.Bundle, Templates, test);
        var labelKeys = FashionMnistSampleParts.LabelKeys(mlContext);

        // Linear probe on CLIP image embeddings (the sweep picks the L2 strength on a validation split).
        var embed = mlContext.Transforms.ClipImageEmbedding(model.Bundle, "Features", "ImageBytes", batchSize: 256)
            .Append(mlContext.Transforms.Conversion.MapValueToKey("LabelKey", "Label", keyData: labelKeys));
        var probeTrain = mlContext.Data.TakeRows(mlContext.Data.ShuffleRows(train, seed: 2), probeRows);
        var featurizer = embed.Fit(probeTrain);
        var trainFeatures = mlContext.Data.Cache(featurizer.Transform(probeTrain), "Features", "LabelKey");
        var probe = mlContext.MulticlassClassification.Trainers.ClipLinearProbe("LabelKey", "Features");
        var probeModel = probe.Fit(trainFeatures);
        var testFeatures = mlContext.Data.Cache(featurizer.Transform(test), "Features", "LabelKey");
        double probeAccuracy = mlContext.MulticlassClassification.Evaluate(probeModel.Transform(testFeatures), "LabelKey").MicroAccuracy;

        // Baseline: the same L-BFGS logistic regression on the raw pixels, same training rows.
        var pixelTrain = mlContext.Data.LoadFromEnumerable(PixelRows(probeTrain));
        var pixelTest = mlContext.Data.LoadFromEnumerable(PixelRows(test));
        var pixelModel = mlContext.Transforms.Conversion.MapValueToKey("LabelKey", "Label", keyData: labelKeys)
            .Append(mlContext.MulticlassClassification.Trainers.LbfgsMaximumEntropy("LabelKey", "Pixels")).Fit(pixelTrain);
        double pixelAccuracy = mlContext.MulticlassClassification.Evaluate(pixelModel.Transform(pixelTest), "LabelKey").MicroAccuracy;

        Console.WriteLine();
        Console.WriteLine("| Fashion-MNIST (10,000 test images, 10 classes) | accuracy |");
        Console.WriteLine("|---|---|");
        Console.WriteLine(string.Format(CultureInfo.InvariantCulture, "| CLIP zero-shot ({0} templates, no labels used) | {1:P1} |", Templates.Length, zeroShotAccuracy));
        Console.WriteLine(string.Format(CultureInfo.InvariantCulture, "| ClipLinearProbe on CLIP embeddings ({0:N0} training images, λ = {1:G3}) | {2:P1} |", probeRows, probeModel.Sweep.ChosenL2Regularization, probeAccuracy));
        Console.WriteLine(string.Format(CultureInfo.InvariantCulture, "| logistic regression on raw pixels (same {0:N0} images) | {1:P1} |", probeRows, pixelAccuracy));
        Console.WriteLine(string.Format(CultureInfo.InvariantCulture, "| chance | {0:P1} |", 0.1));
        Console.WriteLine($"Total time {clock.Elapsed.TotalMinutes:F1} min.");
        return 0;
    }

    private sealed class PixelRow
    {
        public string Label { get; set; } = "";
        [VectorType(784)] public float[] Pixels { get; set; } = [];
    }

    /// <summary>Decodes the PNG bytes back to 28 × 28 gray levels in [0, 1].</summary>
    private static IEnumerable<PixelRow> PixelRows(IDataView data)
    {
        using var cursor = data.GetRowCursor([data.Schema["ImageBytes"], data.Schema["Label"]]);
        var getBytes = cursor.GetGetter<VBuffer<byte>>(data.Schema["ImageBytes"]);
        var getLabel = cursor.GetGetter<ReadOnlyMemory<char>>(data.Schema["Label"]);
        VBuffer<byte> bytes = default;
        ReadOnlyMemory<char> label = default;
        while (cursor.MoveNext())
        {
            getBytes(ref bytes);
            getLabel(ref label);
            using var image = MLImage.CreateFromStream(new MemoryStream(bytes.DenseValues().ToArray()));
            var pixels = image.Pixels;
            var gray = new float[784];
            for (int i = 0; i < 784; i++) gray[i] = pixels[i * 4] / 255f; // gray: every channel holds the level
            yield return new PixelRow { Label = label.ToString(), Pixels = gray };
        }
    }
}
