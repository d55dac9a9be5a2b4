using System;
using System.IO;
using System.Linq;
using Microsoft.ML;
using Microsoft.ML.Clip.Modeling;
using Microsoft.ML.Clip.Tokenization;
using Microsoft.ML.Clip.Training;
using Xunit;

namespace Microsoft.ML.Clip.Tests.Pipeline;

/// <summary>Cancellation stops within a step and leaves a checkpoint; a resumed run ends where an uninterrupted one does.</summary>
public class ClipPretrainCheckpointTests
{
    private static readonly ClipConfig Architecture = ClipStagesTests.TestArchitecture with
    {
        Vision = ClipStagesTests.TestArchitecture.Vision with { Layers = 1 },
        Text = ClipStagesTests.TestArchitecture.Text with { Layers = 1 },
    };

    private sealed class Callback(Action<ClipTrainingProgress> action) : IProgress<ClipTrainingProgress>
    {
        public void Report(ClipTrainingProgress value) => action(value);
    }

    private static ClipPretrainOptions Options(string checkpoints, ClipTokenizer tokenizer, IProgress<ClipTrainingProgress>? progress = null) => new()
    {
        Architecture = Architecture,
        Tokenizer = tokenizer,
        ImageColumnName = "ImageBytes",
        Epochs = 2,
        BatchSize = 16,
        ValidationFraction = 0,
        Trainer = new ClipTrainerOptions { LearningRate = 1e-3, WarmupSteps = 2 },
        Seed = 4,
        CheckpointDirectory = checkpoints,
        KeepCheckpoints = 2,
        Progress = progress,
    };

    [Trait("Category", "Fixtures")]
    [Trait("Category", "Slow")]
    [FixtureFact]
    public void CancelledRunResumesToTheSameWeightsAsAnUninterruptedOne()
    {
        var tokenizer = ClipTokenizer.FromOpenAIMergesFile(Fixtures.VocabularyPath);
        using var temp = new TempDirectory();
        var rows = ColourPairs.Rows(96, seed: 2).ToList();

        var reference = new MLContext(seed: 1);
        var full = reference.Transforms.ClipPretrain(Options(temp.File("full"), tokenizer)).Fit(reference.Data.LoadFromEnumerable(rows));
        Assert.Equal(12, full.TrainingReport!.Steps);

        // Cancel during the first epoch, after step 4: the run stops before step 5 and writes a checkpoint.
        var interrupted = new MLContext(seed: 1);
        using var cancel = new System.Threading.CancellationTokenSource();
        var cancelling = Options(temp.File("resumed"), tokenizer, new Callback(p => { if (p.Step == 4) cancel.Cancel(); }));
        cancelling.CancellationToken = cancel.Token;
        Assert.ThrowsAny<OperationCanceledException>(() =>
            interrupted.Transforms.ClipPretrain(cancelling).Fit(interrupted.Data.LoadFromEnumerable(rows)));
        var saved = Directory.GetFiles(temp.File("resumed"), "checkpoint-*.safetensors");
        Assert.Contains(saved, f => Path.GetFileName(f) == "checkpoint-000000004.safetensors");

        var again = new MLContext(seed: 1);
        var resumed = again.Transforms.ClipPretrain(Options(temp.File("resumed"), tokenizer)).Fit(again.Data.LoadFromEnumerable(rows));
        Assert.Equal(12, resumed.TrainingReport!.Steps);
        Assert.Equal(8, resumed.TrainingReport.Losses.Count); // only the steps after the checkpoint were trained

        // Same kernels on the same batches, but the resumed run's data pipeline and thread partitions start afresh:
        // rounding-level differences (~1e-7 relative) through 8 Adam steps. 1e-4 relative + 1e-6 absolute bounds
        // them; resuming from the wrong step, data position or optimizer state moves weights by ~lr (1e-3).
        foreach (var ((name, a), (_, b)) in full.Bundle.Model.named_parameters().Zip(resumed.Bundle.Model.named_parameters()))
            Assert.True(a.allclose(b, rtol: 1e-4, atol: 1e-6), $"{name} differs between the uninterrupted and the resumed run");
        Assert.True(Directory.GetFiles(temp.File("resumed"), "checkpoint-*.safetensors").Length <= 2);
    }

    [Trait("Category", "Fixtures")]
    [Trait("Category", "Slow")]
    [FixtureFact]
    public void DamagedNewestCheckpointFallsBackToThePreviousOne()
    {
        var tokenizer = ClipTokenizer.FromOpenAIMergesFile(Fixtures.VocabularyPath);
        using var temp = new TempDirectory();
        var rows = ColourPairs.Rows(64, seed: 3).ToList();
        var mlContext = new MLContext(seed: 1);
        var options = Options(temp.File("ck"), tokenizer);
        options.Epochs = 1;
        options.CheckpointEverySteps = 2;
        mlContext.Transforms.ClipPretrain(options).Fit(mlContext.Data.LoadFromEnumerable(rows));
        var files = Directory.GetFiles(temp.File("ck"), "checkpoint-*.safetensors").OrderBy(f => f).ToArray();
        Assert.Equal(2, files.Length);
        File.WriteAllBytes(files[^1], File.ReadAllBytes(files[^1]).Take(1000).ToArray()); // truncated, as by a full disk

        var model = new ClipModel(Architecture);
        var optimizer = new AdamW(ParameterGroups.WithWeightDecay(model.named_parameters().Select(p => (p.name, p.parameter)), 0.2));
        var warnings = new System.Collections.Generic.List<string>();
        var restored = new TrainingCheckpoints(temp.File("ck")).TryRestoreLatest(model, optimizer, warnings.Add);
        Assert.NotNull(restored);
        Assert.Equal(2, restored!.Value.Position.Step);
        Assert.Single(warnings);
        Assert.Contains(Path.GetFileName(files[^1]), warnings[0]);
    }
}
