using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Linq;
using Microsoft.ML;
using Microsoft.ML.Clip.Datasets;
using Microsoft.ML.Clip.Evaluation;
using Microsoft.ML.Clip.Modeling;
using Microsoft.ML.Clip.Tokenization;
using Microsoft.ML.Clip.Training;
using Microsoft.ML.Clip.Transforms;
using Microsoft.ML.Data;
using static TorchSharp.torch;

namespace Microsoft.ML.Clip.Samples;

/// <summary>
/// Data order on real data: Fashion-MNIST images written to disk as PNG files with a CSV manifest in folder (class)
/// order, as most manifests are, and the same manifest shuffled once. ClipPretrain trains on each with the same
/// recipe; a third run reads the sorted manifest through ML.NET's text loader (which cannot shuffle, so it goes
/// through a 1,000-row shuffle pool: how every loader was read before epochs became permutations). Each model is
/// measured on the same held-out test images: zero-shot accuracy and retrieval (ties reported: the captions repeat).
/// Options: --folder (the IDX files), --train-rows N (default 12000), --test-rows N (2000), --epochs N (3).
/// </summary>
internal static class SortedManifestSample
{
    private static readonly string[] Templates = ["a photo of a {}.", "a {}.", "a product photo of a {}.", "an image of a {}, a type of clothing."];

    public static int Run(string[] args)
    {
        var a = new SampleArguments(args);
        if (FashionMnistSampleParts.FindFolder(a) is not { } folder)
            return 2;
        int trainRows = a.Int("train-rows", 12_000), testRows = a.Int("test-rows", 2_000), epochs = a.Int("epochs", 3);
        set_num_threads(Environment.ProcessorCount);
        var clock = Stopwatch.StartNew();
        var mlContext = new MLContext(seed: 1);
        var options = new FashionMnistOptions { CaptionTemplates = Templates };
        string work = Path.Combine("artifacts", "samples", "sorted-manifest");
        var (sorted, shuffled) = WriteManifests(mlContext.Data.LoadFashionMnist(folder, FashionMnistSplit.Train, options), trainRows, work);
        var test = mlContext.Data.TakeRows(mlContext.Data.LoadFashionMnist(folder, FashionMnistSplit.Test, options), testRows);
        var tokenizer = ClipBpeTrainer.Train(Templates.SelectMany(t => FashionMnistClasses.Names.Select(n => t.Replace("{}", n))),
            new ClipBpeTrainerOptions { VocabularySize = 600, MinFrequency = 1 });
        Console.WriteLine($"{trainRows:N0} training images written as PNG files with a class-sorted and a shuffled manifest in '{work}'.");

        var runs = new (string Name, IDataView Data)[]
        {
            ("sorted manifest (LoadFromImageManifest)", mlContext.Data.LoadFromImageManifest(sorted)),
            ("shuffled manifest (LoadFromImageManifest)", mlContext.Data.LoadFromImageManifest(shuffled)),
            ("sorted manifest (ML.NET text loader: 1,000-row pool)", TextLoaderView(mlContext, sorted)),
        };
        var results = runs.Select(run => Measure(mlContext, run.Name, Pretrain(mlContext, run.Data, tokenizer, epochs), epochs, test)).ToList();

        Console.WriteLine();
        Console.WriteLine($"| training data ({trainRows:N0} images, {epochs} epochs) | last-epoch loss | zero-shot accuracy | image→text R@1 / R@5 (ties against) | text→image R@1 / R@5 (ties against) |");
        Console.WriteLine("|---|---|---|---|---|");
        foreach (var line in results) Console.WriteLine(line);
        Console.WriteLine($"Held out: {testRows:N0} test images; chance: zero-shot 10 %, R@1 {1.0 / testRows:P2}. Total time {clock.Elapsed.TotalMinutes:F1} min.");
        return 0;
    }

    /// <summary>Writes the first <paramref name="rows"/> images as PNG files under one folder per class, and two manifests of the same rows.</summary>
    private static (string Sorted, string Shuffled) WriteManifests(IDataView train, int rows, string work)
    {
        var lines = new List<(int Class, string Line)>();
        using (var cursor = train.GetRowCursor(train.Schema))
        {
            var bytes = cursor.GetGetter<VBuffer<byte>>(train.Schema["ImageBytes"]);
            var caption = cursor.GetGetter<ReadOnlyMemory<char>>(train.Schema["Caption"]);
            var label = cursor.GetGetter<ReadOnlyMemory<char>>(train.Schema["Label"]);
            VBuffer<byte> image = default;
            ReadOnlyMemory<char> text = default, name = default;
            while (lines.Count < rows && cursor.MoveNext())
            {
                bytes(ref image);
                caption(ref text);
                label(ref name);
                int c = FashionMnistClasses.Names.ToList().IndexOf(name.ToString());
                string relative = Path.Combine($"class{c}", $"{cursor.Position:D6}.png");
                Directory.CreateDirectory(Path.Combine(work, $"class{c}"));
                File.WriteAllBytes(Path.Combine(work, relative), image.DenseValues().ToArray());
                lines.Add((c, $"{relative},\"{text.ToString().Replace("\"", "\"\"")}\""));
            }
        }
        string sorted = Path.Combine(work, "sorted.csv"), shuffled = Path.Combine(work, "shuffled.csv");
        File.WriteAllLines(sorted, ["path,caption", .. lines.OrderBy(l => l.Class).Select(l => l.Line)]);
        var once = lines.Select(l => l.Line).ToArray();
        new Random(5).Shuffle(once);
        File.WriteAllLines(shuffled, ["path,caption", .. once]);
        return (sorted, shuffled);
    }

    /// <summary>The sorted manifest read the way an ML.NET user would without this library's loaders.</summary>
    private static IDataView TextLoaderView(MLContext mlContext, string manifest)
    {
        var rows = mlContext.Data.LoadFromTextFile(manifest, [new TextLoader.Column("Path", DataKind.String, 0), new TextLoader.Column("Caption", DataKind.String, 1)],
            separatorChar: ',', hasHeader: true, allowQuoting: true);
        return mlContext.Transforms.LoadRawImageBytes("ImageBytes", Path.GetDirectoryName(manifest), "Path").Fit(rows).Transform(rows);
    }

    private static ClipEmbeddingTransformer Pretrain(MLContext mlContext, IDataView data, ClipTokenizer tokenizer, int epochs)
    {
        return mlContext.Transforms.ClipPretrain(new ClipPretrainOptions
        {
            Architecture = FashionMnistSampleParts.Architecture(tokenizer.VocabularySize, contextLength: 16), Tokenizer = tokenizer, ImageColumnName = "ImageBytes", TextColumnName = "Caption",
            Epochs = epochs, BatchSize = 128, ValidationFraction = 0, Seed = 1, LogEverySteps = 1000,
            Trainer = new ClipTrainerOptions { LearningRate = 1e-3, WeightDecay = 0.1, WarmupSteps = 50, Precision = SamplePrecision.Training },
            InferenceDType = SamplePrecision.Inference,
        }).Fit(data);
    }

    /// <summary>One table row: last-epoch loss, zero-shot accuracy and retrieval on the held-out images.</summary>
    private static string Measure(MLContext mlContext, string name, ClipEmbeddingTransformer model, int epochs, IDataView test)
    {
        var report = model.TrainingReport!;
        double lastEpochLoss = report.Losses.Skip(report.Losses.Count - report.Losses.Count / epochs).Average(l => l.Loss);
        double accuracy = FashionMnistSampleParts.ZeroShotAccuracy(mlContext, model.Bundle, Templates, test);
        var r = mlContext.EvaluateRetrieval(model.Transform(test));
        Console.WriteLine($"{name}: {report.Seconds:F0} s; zero-shot {accuracy:P1}; image→text {r.ImageToText}; text→image {r.TextToImage}");
        return string.Format(CultureInfo.InvariantCulture, "| {0} | {1:F3} | {2:P1} | {3:P1} / {4:P1} ({5:P1} / {6:P1}) | {7:P1} / {8:P1} ({9:P1} / {10:P1}) |",
            name, lastEpochLoss, accuracy,
            r.ImageToText.RecallAt1, r.ImageToText.RecallAt5, r.ImageToText.PessimisticRecallAt1, r.ImageToText.PessimisticRecallAt5,
            r.TextToImage.RecallAt1, r.TextToImage.RecallAt5, r.TextToImage.PessimisticRecallAt1, r.TextToImage.PessimisticRecallAt5);
    }
}
