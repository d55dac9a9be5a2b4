using System;
using System.Linq;
using Microsoft.ML.Clip.SampleData;
using Microsoft.ML;
using Microsoft.ML.Clip.Datasets;
using Microsoft.ML.Clip.Imaging;
using Microsoft.ML.Clip.Modeling;
using Microsoft.ML.Clip.Tokenization;
using Microsoft.ML.Clip.Training;
using Microsoft.ML.Clip.Training.Objectives;
using Microsoft.ML.Data;
using static TorchSharp.torch;

namespace Microsoft.ML.Clip.Benchmarks;

/// <summary>
/// What the ML.NET path costs: the same train-small steps (96 px shapes images, batch 64) run (a) as a bare
/// ClipTrainer loop on tensors decoded and preprocessed beforehand and (b) through ClipPretrain on the
/// IDataView of PNG bytes, which decodes, preprocesses and tokenizes on worker threads while the model trains.
/// Also the final loss of fp32 and bf16-mixed runs on the same data, to show the curves track each other.
/// </summary>
internal static class PipelineBenchmark
{
    public static void Run(int batch = 64, int batches = 48)
    {
        var mlContext = new MLContext(seed: 1);
        int rows = batch * batches;
        var data = mlContext.Data.Cache(ShapesDataset.ToDataView(mlContext,
            new ShapesDatasetOptions { Count = rows, Seed = 1, ImageSize = 96 }), ShapesColumns.ImageBytes, ShapesColumns.Caption);
        var captions = data.GetColumn<string>(ShapesColumns.Caption).ToList();
        var tokenizer = ClipBpeTrainer.Train(captions, new ClipBpeTrainerOptions { VocabularySize = 1024 });
        var config = ClipPresets.Small with { Text = ClipPresets.Small.Text with { VocabSize = tokenizer.VocabularySize } };

        foreach (var precision in new[] { TrainingPrecision.Float32, TrainingPrecision.BFloat16Mixed })
        {
            var trainerOptions = new ClipTrainerOptions { LearningRate = 1e-4, WeightDecay = 0.2, WarmupSteps = 2, Precision = precision };
            string name = precision == TrainingPrecision.Float32 ? "fp32" : "bf16-mixed";

            // (a) Bare loop on tensors prepared beforehand (decoding and preprocessing not timed).
            var preprocessor = new ClipImagePreprocessor(new ImagePreprocessingOptions(96));
            var images = data.GetColumn<byte[]>(ShapesColumns.ImageBytes).Select(b => MLImage.CreateFromStream(new System.IO.MemoryStream(b))).ToList();
            using var pixels = preprocessor.Preprocess(images);
            foreach (var image in images) image.Dispose();
            using var tokens = tokenizer.EncodeBatch(captions, config.Text.ContextLength);
            manual_seed(0);
            using var model = new ClipModel(config);
            // The same TrainingRun as ClipPretrain, fed tensor slices instead of an IDataView.
            var source = new FunctionBatchSource((long)batches * batch, (_, i) => i >= batches ? null
                : SourceBatch.FromTensors(pixels.narrow(0, i * batch, batch), tokens.narrow(0, i * batch, batch)));
            var run = new TrainingRun(model, new ContrastiveObjective(), new TrainingRunOptions { Epochs = 1, BatchSize = batch, Trainer = trainerOptions });
            var bareReport = run.Run(source);
            double bareLoss = run.LastLoss;
            double bare = rows / bareReport.Seconds;

            // (b) ClipPretrain over the IDataView of PNG bytes and captions.
            var fitted = mlContext.Transforms.ClipPretrain(new ClipPretrainOptions
            {
                Architecture = config, Tokenizer = tokenizer, ImageColumnName = ShapesColumns.ImageBytes, TextColumnName = ShapesColumns.Caption,
                Epochs = 1, BatchSize = batch, ValidationFraction = 0, Trainer = trainerOptions, Seed = 0,
            }).Fit(data);
            var report = fitted.TrainingReport!;
            double pipeline = rows / report.Seconds;
            Measure.Report($"train-small-bare-loop-{name}", ("samples_per_s", bare), ("final_loss", bareLoss));
            Measure.Report($"train-small-mlnet-pipeline-{name}", ("samples_per_s", pipeline), ("overhead", bare / pipeline - 1),
                ("final_loss", report.Losses[^1].Loss));
        }
    }
}
