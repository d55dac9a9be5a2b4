using System;
using System.Collections.Generic;

namespace Microsoft.ML.Clip.Training;

/// <summary>Progress of a training run (<c>ClipPretrain</c>, or a <see cref="Training.TrainingRun"/> of your own).</summary>
/// <param name="Epoch">1-based epoch.</param>
/// <param name="Epochs">Epochs planned.</param>
/// <param name="Step">Optimizer steps taken.</param>
/// <param name="TotalSteps">Optimizer steps planned.</param>
/// <param name="Loss">Loss of the last batch (NaN in validation reports).</param>
/// <param name="LearningRate">Learning rate of the last step.</param>
/// <param name="ValidationRecallAt1">Mean of image→text and text→image Recall@1 on the validation set, when this report follows a validation.</param>
/// <param name="Elapsed">Time since the run started.</param>
public sealed record ClipTrainingProgress(int Epoch, int Epochs, long Step, long TotalSteps, double Loss, double LearningRate,
    double? ValidationRecallAt1, TimeSpan Elapsed)
{
    /// <summary>Zero-shot accuracy of each watched evaluation set by name, when this report follows a zero-shot evaluation; else null.</summary>
    public IReadOnlyDictionary<string, double>? ZeroShotAccuracy { get; init; }
}
