using System;
using System.Collections.Generic;
using System.Threading;
using Microsoft.ML.Clip.Evaluation;

namespace Microsoft.ML.Clip.Training;

/// <summary>The settings of a <see cref="TrainingRun"/>: its length, batches, checkpoints and logging.</summary>
public sealed class TrainingRunOptions
{
    /// <summary>What the log lines and errors call the run (<c>ClipPretrain</c> for the pipeline stage).</summary>
    public string Name { get; init; } = "Training";

    /// <summary>Passes over the source.</summary>
    public int Epochs { get; init; } = 1;

    /// <summary>Pairs per optimizer step over all processes; each of N processes reads <c>BatchSize / N</c>.</summary>
    public int BatchSize { get; init; } = 64;

    /// <summary>Optimizer, schedule, precision and accumulation.</summary>
    public ClipTrainerOptions Trainer { get; init; } = new();

    /// <summary>Folder of checkpoints (written by the main process only); null: none.</summary>
    public string? CheckpointDirectory { get; init; }

    /// <summary>Also checkpoint every this many steps within an epoch (0: only at epoch ends).</summary>
    public int CheckpointEverySteps { get; init; }

    /// <summary>Checkpoints kept in the folder.</summary>
    public int KeepCheckpoints { get; init; } = 3;

    /// <summary>Continue from the newest checkpoint in <see cref="CheckpointDirectory"/> when there is one.</summary>
    public bool Resume { get; init; } = true;

    /// <summary>A loss line every this many steps (and at each epoch's end).</summary>
    public int LogEverySteps { get; init; } = 10;

    /// <summary>
    /// Whether a batch shortened by dropped bad rows is trained on. Otherwise (and alone) a short batch ends the epoch
    /// as open_clip's <c>drop_last</c> does: fewer negatives would change the loss.
    /// </summary>
    public bool TrainShortBatches { get; init; }

    /// <summary>Also evaluate zero-shot accuracy (<see cref="TrainingRunHooks.EvaluateZeroShot"/>) every this many steps (0: at epoch ends only).</summary>
    public int ZeroShotEverySteps { get; init; }

    /// <summary>
    /// Keep the weights of the best mean zero-shot accuracy (in memory, and as <c>best-zero-shot.safetensors</c> in the
    /// checkpoint folder) and end the run with them, on every process.
    /// </summary>
    public bool KeepBestByZeroShot { get; init; }

    /// <summary>Stops the run at the next step (after a checkpoint) with <see cref="OperationCanceledException"/>.</summary>
    public CancellationToken CancellationToken { get; init; }

    /// <summary>Throws <see cref="ArgumentOutOfRangeException"/> naming the first setting out of range (epochs, batch size, checkpoint counts...).</summary>
    public void Validate()
    {
        if (Epochs < 1) throw new ArgumentOutOfRangeException(nameof(Epochs), Epochs, "At least one epoch.");
        if (BatchSize < 2) throw new ArgumentOutOfRangeException(nameof(BatchSize), BatchSize, "Contrastive training needs at least 2 pairs per batch.");
        if (CheckpointEverySteps < 0) throw new ArgumentOutOfRangeException(nameof(CheckpointEverySteps), CheckpointEverySteps, "Cannot be negative.");
        if (ZeroShotEverySteps < 0) throw new ArgumentOutOfRangeException(nameof(ZeroShotEverySteps), ZeroShotEverySteps, "Cannot be negative.");
        ArgumentNullException.ThrowIfNull(Trainer);
    }
}

/// <summary>
/// What a <see cref="TrainingRun"/> tells its host, all optional. Log lines and progress come from the main process
/// only (rank 0, or the only one); step results and cancellation checks from every process.
/// </summary>
public sealed class TrainingRunHooks
{
    /// <summary>Informational log lines (settings, losses every few steps, checkpoints, validation).</summary>
    public Action<string>? Info { get; init; }

    /// <summary>Warnings (skipped steps, skipped batches, unreadable checkpoints, bad rows; the last on every process).</summary>
    public Action<string>? Warning { get; init; }

    /// <summary>A report after every trained step and after every validation.</summary>
    public IProgress<ClipTrainingProgress>? Progress { get; init; }

    /// <summary>Every process, after every trained (or skipped non-finite) step.</summary>
    public Action<TrainingStepResult>? StepCompleted { get; init; }

    /// <summary>
    /// Retrieval on held-out pairs after each epoch, on the main process; the model's weights changed since the last
    /// call (a cached inference copy must be rebuilt). Null: no validation.
    /// </summary>
    public Func<RetrievalMetrics>? Validate { get; init; }

    /// <summary>
    /// Zero-shot accuracy of the current weights on each watched evaluation set, by set name, on the main process after
    /// each epoch and every <see cref="TrainingRunOptions.ZeroShotEverySteps"/> steps (the model is in eval mode and its
    /// weights changed since the last call). Null: nothing watched.
    /// </summary>
    public Func<IReadOnlyList<(string Set, double Accuracy)>>? EvaluateZeroShot { get; init; }

    /// <summary>Throws <see cref="OperationCanceledException"/> to stop the run (besides the options' token), as ML.NET's host does.</summary>
    public Action? CheckAlive { get; init; }
}
