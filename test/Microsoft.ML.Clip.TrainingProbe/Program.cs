// Usage: TrainingProbe <checkpoint folder> <final weights .safetensors>
// A small, deterministic ClipPretrain run (built-in shapes data, tokenizer learned from its captions, fixed
// seed) that checkpoints every 2 steps and resumes from the newest checkpoint in the folder. Prints one line per
// step; writes the final weights when done.
using System;
using System.Linq;
using Microsoft.ML.Clip.SampleData;
using Microsoft.ML;
using Microsoft.ML.Clip;
using Microsoft.ML.Clip.Datasets;
using Microsoft.ML.Clip.Modeling;
using Microsoft.ML.Clip.Tokenization;
using Microsoft.ML.Clip.Training;
using Microsoft.ML.Data;

if (args.Length != 2)
{
    Console.Error.WriteLine("usage: TrainingProbe <checkpoint folder> <final weights .safetensors>");
    return 2;
}
TorchSharp.torch.set_num_threads(1); // one thread: the same arithmetic in every run, whatever the machine's load

var mlContext = new MLContext(seed: 1);
var data = ShapesDataset.ToDataView(mlContext, new ShapesDatasetOptions { Count = 192, Seed = 1, ImageSize = 32, Split = ShapesSplit.All });
var tokenizer = ClipBpeTrainer.Train(data.GetColumn<string>(ShapesColumns.Caption), new ClipBpeTrainerOptions { VocabularySize = 600 });
var model = mlContext.Transforms.ClipPretrain(new ClipPretrainOptions
{
    Architecture = new ClipConfig
    {
        EmbedDim = 32,
        Vision = new VisionConfig { ImageSize = 32, Layers = 1, Width = 64, HeadWidth = 32, PatchSize = 8 },
        Text = new TextConfig { ContextLength = 24, VocabSize = tokenizer.VocabularySize, Width = 64, Heads = 2, Layers = 1 },
    },
    Tokenizer = tokenizer,
    ImageColumnName = ShapesColumns.ImageBytes,
    TextColumnName = ShapesColumns.Caption,
    Epochs = 3,
    BatchSize = 16,
    ValidationFraction = 0,
    Trainer = new ClipTrainerOptions { LearningRate = 1e-3, WarmupSteps = 4 },
    Seed = 1,
    CheckpointDirectory = args[0],
    CheckpointEverySteps = 2,
    KeepCheckpoints = 2,
    Progress = new StepPrinter(),
}).Fit(data);
ClipWeights.Save(model.Bundle.Model, args[1]);
Console.WriteLine($"done: {model.TrainingReport!.Steps} steps");
return 0;

sealed class StepPrinter : IProgress<ClipTrainingProgress>
{
    public void Report(ClipTrainingProgress p) => Console.WriteLine($"step {p.Step}/{p.TotalSteps}");
}
