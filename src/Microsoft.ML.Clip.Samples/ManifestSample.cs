using System;
using System.Globalization;
using System.IO;
using System.Linq;
using Microsoft.Data.Analysis;
using Microsoft.ML.Clip.SampleData;
using Microsoft.ML;
using Microsoft.ML.Clip.Datasets;
using Microsoft.ML.Clip.Evaluation;
using Microsoft.ML.Clip.Modeling;
using Microsoft.ML.Clip.Tokenization;
using Microsoft.ML.Clip.Training;
using static TorchSharp.torch;

namespace Microsoft.ML.Clip.Samples;

/// <summary>
/// Image–caption pairs kept as files plus a CSV manifest (path, caption), the way most people keep their
/// own data: the manifest is read with Microsoft.Data.Analysis' DataFrame (an IDataView), image files are
/// loaded as encoded bytes by ML.NET's LoadRawImageBytes and decoded in parallel by the CLIP stage.
/// Options: --folder (default: writes a shapes manifest to artifacts/samples/manifest), --epochs N.
/// </summary>
internal static class ManifestSample
{
    public static int Run(string[] args)
    {
        var a = new SampleArguments(args);
        set_num_threads(Environment.ProcessorCount);
        string folder = Path.GetFullPath(a.String("folder", Path.Combine("artifacts", "samples", "manifest")));
        string manifest = Path.Combine(folder, ShapesDataset.ManifestFileName);
        if (!File.Exists(manifest))
        {
            Console.WriteLine($"Writing 3,000 shapes images and a manifest to {folder} ...");
            ShapesDataset.WriteToFolder(folder, new ShapesDatasetOptions { Count = 3000, Seed = 11, Split = ShapesSplit.All });
        }

        // The manifest as a DataFrame: columns path, caption, label, ... (strings).
        var frame = DataFrame.LoadCsv(manifest);
        Console.WriteLine($"Manifest {manifest}: {frame.Rows.Count:N0} rows, columns {string.Join(", ", frame.Columns.Select(c => c.Name))}.");
        var mlContext = new MLContext(seed: 1);
        var split = mlContext.Data.TrainTestSplit(frame, testFraction: 0.2, seed: 1);

        var tokenizer = ClipBpeTrainer.Train(frame.Columns["caption"].Cast<string>(), new ClipBpeTrainerOptions { VocabularySize = 1024 });
        var pipeline = mlContext.Transforms.LoadRawImageBytes("ImageBytes", folder, "path")
            .Append(mlContext.Transforms.ClipPretrain(new ClipPretrainOptions
            {
                Architecture = ClipPresets.Tiny with { Text = ClipPresets.Tiny.Text with { VocabSize = tokenizer.VocabularySize, ContextLength = 24 } },
                Tokenizer = tokenizer,
                ImageColumnName = "ImageBytes",
                TextColumnName = "caption",
                Epochs = a.Int("epochs", 3),
                BatchSize = 64,
                ValidationFraction = 0,
                Trainer = new ClipTrainerOptions { LearningRate = 1e-3, WarmupSteps = 20, Precision = SamplePrecision.Training },
            }));
        var model = pipeline.Fit(split.TrainSet);
        var metrics = mlContext.EvaluateRetrieval(model.Transform(split.TestSet));
        int n = metrics.Count;
        Console.WriteLine(string.Format(CultureInfo.InvariantCulture,
            "Held-out pairs: {0}. image→text R@1/5/10 {1:P1}/{2:P1}/{3:P1}, text→image {4:P1}/{5:P1}/{6:P1} (chance {7:P1}/{8:P1}/{9:P1}).",
            n, metrics.ImageToText.RecallAt1, metrics.ImageToText.RecallAt5, metrics.ImageToText.RecallAt10,
            metrics.TextToImage.RecallAt1, metrics.TextToImage.RecallAt5, metrics.TextToImage.RecallAt10, 1.0 / n, 5.0 / n, 10.0 / n));
        return metrics.ImageToText.RecallAt10 > 10.0 / n ? 0 : 1;
    }
}
