using System;
using System.Collections.Generic;
using System.Threading;
using Microsoft.ML.Clip.Evaluation;

namespace Microsoft.ML.Clip.Training;

/// <summary>
/// The settings of one training run: its length, batches, optimizer, checkpoints, logging and what it watches. A
/// <see cref="TrainingRun"/> takes them as they are; <c>mlContext.Transforms.ClipPretrain</c> takes them as part of
/// <c>ClipPretrainOptions</c>, which adds its data, model and scoring settings. <see cref="Validate"/> checks them once,
/// when the run or the estimator is created.
/// </summary>
public class TrainingRunOptions
{
    /// <summary>What the log lines and errors call the run (<c>ClipPretrain</c> for the pipeline stage).</summary>
    public string Name { get; set; } = "Training";

    /// <summary>Passes over the training data.</summary>
    public int Epochs { get; set; } = 10;

    /// <summary>
    /// Image–caption pairs per optimizer step (the contrastive batch: every pair is a negative for the others). In
    /// data-parallel training this is the global batch: each of N processes reads <c>BatchSize / N</c> of its pairs,
    /// so the same settings train the same model on any number of processes.
    /// </summary>
    public int BatchSize { get; set; } = 64;

    /// <summary>Optimizer, schedule, accumulation and precision settings.</summary>
    public ClipTrainerOptions Trainer { get; set; } = new();

    /// <summary>
    /// Folder for checkpoints (written by the main process only); null: none. A run finding checkpoints there resumes
    /// from the newest (see <see cref="Resume"/>).
    /// </summary>
    public string? CheckpointDirectory { get; set; }

    /// <summary>Optimizer steps between checkpoints (besides one at the end of every epoch); 0: epochs only.</summary>
    public int CheckpointEverySteps { get; set; }

    /// <summary>How many of the newest checkpoints stay in <see cref="CheckpointDirectory"/>; older ones are deleted once a new one is complete.</summary>
    public int KeepCheckpoints { get; set; } = 3;

    /// <summary>Continue from the newest checkpoint in <see cref="CheckpointDirectory"/> when there is one.</summary>
    public bool Resume { get; set; } = true;

    /// <summary>Log a progress line every this many steps (and at each epoch's end).</summary>
    public int LogEverySteps { get; set; } = 10;

    /// <summary>
    /// False (default): an unreadable row (corrupt, truncated or oversized image, unreadable caption) stops training
    /// with an error naming the column and the row, and a short batch can only be an epoch's incomplete last one,
    /// which is dropped as open_clip's <c>drop_last</c> does (fewer negatives would change the loss). True: such rows
    /// are left out of their batch (by the batch source: <c>ClipPretrain</c>'s does), counted in
    /// <see cref="ClipTrainingReport.SkippedRows"/> and logged, and a batch they shortened is trained on. Scoring stages
    /// always fail on them.
    /// </summary>
    public bool SkipBadRows { get; set; }

    /// <summary>
    /// Also measure zero-shot accuracy (<c>ClipPretrainOptions.ZeroShotEvaluations</c>, or the
    /// <see cref="TrainingRunHooks.EvaluateZeroShot"/> hook of a <see cref="TrainingRun"/>) every this many optimizer
    /// steps (0: after every epoch only).
    /// </summary>
    public int ZeroShotEverySteps { get; set; }

    /// <summary>
    /// Return the weights of the evaluation with the best mean zero-shot accuracy rather than the last ones (also
    /// written to <c>best-zero-shot.safetensors</c> in <see cref="CheckpointDirectory"/>, where a resumed run finds
    /// them), on every process; the step is in <see cref="ClipTrainingReport.BestZeroShot"/>.
    /// </summary>
    public bool KeepBestByZeroShot { get; set; }

    /// <summary>
    /// Stops training between two steps (a checkpoint is written first when <see cref="CheckpointDirectory"/> is set)
    /// with <see cref="OperationCanceledException"/>. ML.NET's own host cancellation is honoured the same way.
    /// </summary>
    public CancellationToken CancellationToken { get; set; }

    /// <summary>
    /// Throws an <see cref="ArgumentException"/> (<see cref="ArgumentOutOfRangeException"/> for a value out of range)
    /// naming the first setting that cannot work. Runs once, when a <see cref="TrainingRun"/> or a <c>ClipPretrain</c>
    /// estimator is created.
    /// </summary>
    public virtual void Validate()
    {
        ArgumentException.ThrowIfNullOrEmpty(Name, nameof(Name));
        if (Epochs < 1) throw new ArgumentOutOfRangeException(nameof(Epochs), Epochs, "At least one epoch is needed.");
        if (BatchSize < 2) throw new ArgumentOutOfRangeException(nameof(BatchSize), BatchSize, "A contrastive batch needs at least 2 pairs.");
        if (Trainer is null) throw new ArgumentNullException(nameof(Trainer), "The optimizer settings (Trainer) are needed.");
        Trainer.Validate();
        if (CheckpointEverySteps < 0) throw new ArgumentOutOfRangeException(nameof(CheckpointEverySteps), CheckpointEverySteps, "Cannot be negative.");
        if (KeepCheckpoints < 1) throw new ArgumentOutOfRangeException(nameof(KeepCheckpoints), KeepCheckpoints, "At least one checkpoint must be kept.");
        if (ZeroShotEverySteps < 0) throw new ArgumentOutOfRangeException(nameof(ZeroShotEverySteps), ZeroShotEverySteps, "Cannot be negative.");
    }

    /// <summary>A copy of these settings (what an estimator keeps, so later changes to the caller's object do not apply).</summary>
    internal virtual TrainingRunOptions Copy() => (TrainingRunOptions)MemberwiseClone();
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
