using System.Collections.Generic;

namespace Microsoft.ML.Clip.Training;

/// <summary>
/// The figures of a training run, as <see cref="TrainingRun"/> records them (<c>ClipPretrain</c>'s report,
/// <c>ClipPretrainReport</c>, adds what the pipeline stage does after the run).
/// </summary>
public class ClipTrainingReport
{
    /// <summary>(optimizer step, batch loss) for every step.</summary>
    public List<(long Step, double Loss)> Losses { get; } = [];

    /// <summary>Validation retrieval after each epoch (empty without a validation set).</summary>
    public List<(int Epoch, long Step, double ImageToTextRecallAt1, double TextToImageRecallAt1, double MeanRecallAt5)> Validation { get; } = [];

    /// <summary>
    /// Zero-shot accuracy of every watched evaluation set (<c>ClipPretrainOptions.ZeroShotEvaluations</c>) after each
    /// epoch and every <c>ZeroShotEverySteps</c> steps, by set name; empty when none are watched.
    /// </summary>
    public List<(int Epoch, long Step, string Set, double Accuracy)> ZeroShot { get; } = [];

    /// <summary>
    /// With <c>KeepBestByZeroShot</c>: the step whose weights had the best mean zero-shot accuracy over the watched sets
    /// and that accuracy (the returned model has those weights); null otherwise.
    /// </summary>
    public (long Step, double MeanAccuracy)? BestZeroShot { get; internal set; }

    /// <summary>Optimizer steps taken in total (including those of a resumed checkpoint).</summary>
    public long Steps { get; internal set; }

    /// <summary>Steps skipped for non-finite values (only when skipping was enabled).</summary>
    public long SkippedSteps { get; internal set; }

    /// <summary>Input rows skipped as unreadable (only with <c>SkipBadRows</c>; every one is also logged, up to 100).</summary>
    public long SkippedRows { get; internal set; }

    /// <summary>Processes that trained together (1 unless launched data-parallel with <c>mpiexec</c>).</summary>
    public int Processes { get; internal set; } = 1;

    /// <summary>
    /// Whether this is the process that logged, validated and wrote checkpoints (rank 0). Every process returns the
    /// same weights; applications usually save the model from this one only.
    /// </summary>
    public bool IsMainProcess { get; internal set; } = true;

    /// <summary>Wall-clock seconds of the run (for <c>ClipPretrain</c>: the whole Fit call).</summary>
    public double Seconds { get; internal set; }
}
