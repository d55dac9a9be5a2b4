using System.Collections.Generic;

namespace Microsoft.ML.Clip.Trainers;

/// <summary>Where in the sweep a λ was evaluated.</summary>
public enum ClipLinearProbeStage
{
    /// <summary>A value of the coarse grid.</summary>
    Grid,

    /// <summary>A midpoint evaluated by the binary-search refinement.</summary>
    Refinement,
}

/// <summary>One evaluated L2 strength.</summary>
/// <param name="L2Regularization">The value passed as ML.NET's <c>L2Regularization</c> (the CLIP paper's λ).</param>
/// <param name="ValidationAccuracy">Micro-accuracy on the validation rows of the model trained on the training rows.</param>
/// <param name="Stage">Grid value or refinement midpoint.</param>
/// <param name="Step">0 for grid values; 1, 2, … for the refinement step that evaluated it.</param>
public sealed record ClipLinearProbeTrial(float L2Regularization, double ValidationAccuracy, ClipLinearProbeStage Stage, int Step);

/// <summary>The outcome of a <see cref="ClipLinearProbeEstimator"/> sweep.</summary>
/// <param name="Trials">Every evaluated λ, in evaluation order: the grid first, then the refinement midpoints.</param>
/// <param name="ChosenL2Regularization">
/// The λ of the final model: the highest validation accuracy; among equal accuracies the largest λ (the
/// simplest model).
/// </param>
/// <param name="ChosenValidationAccuracy">The validation accuracy of <paramref name="ChosenL2Regularization"/>.</param>
/// <param name="TrainingRowCount">Rows used to train the sweep's models (after holding out validation rows).</param>
/// <param name="ValidationRowCount">Rows used to score them.</param>
/// <param name="FinalRowCount">Rows used to train the returned model.</param>
public sealed record ClipLinearProbeSweep(
    IReadOnlyList<ClipLinearProbeTrial> Trials,
    float ChosenL2Regularization,
    double ChosenValidationAccuracy,
    long TrainingRowCount,
    long ValidationRowCount,
    long FinalRowCount);
