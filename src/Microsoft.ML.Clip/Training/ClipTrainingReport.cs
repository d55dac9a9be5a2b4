using System.Collections.Generic;

namespace Microsoft.ML.Clip.Training;

/// <summary>The figures of a training run (<c>ClipPretrain</c>, or a <see cref="Training.TrainingRun"/> of your own).</summary>
public sealed class ClipTrainingReport
{
    /// <summary>(optimizer step, batch loss) for every step.</summary>
    public List<(long Step, double Loss)> Losses { get; } = [];

    /// <summary>Validation retrieval after each epoch (empty without a validation set).</summary>
    public List<(int Epoch, long Step, double ImageToTextRecallAt1, double TextToImageRecallAt1, double MeanRecallAt5)> Validation { get; } = [];

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
