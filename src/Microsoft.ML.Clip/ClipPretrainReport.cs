using System.Collections.Generic;
using Microsoft.ML.Clip.Training;

namespace Microsoft.ML.Clip;

/// <summary>
/// The figures of a <c>ClipPretrain</c> fit (<see cref="Transforms.ClipEmbeddingTransformer.TrainingReport"/>): the
/// training run's (<see cref="ClipTrainingReport"/>) and what the stage did after it.
/// </summary>
public sealed class ClipPretrainReport : ClipTrainingReport
{
    internal ClipPretrainReport() { }

    /// <summary>
    /// With <see cref="ClipPretrainOptions.WeightEnsemble"/>: each α tried for <c>(1 − α)·initial + α·fine-tuned</c> and
    /// its selection score (mean watched zero-shot accuracy or mean validation Recall@1; NaN when only one α was given and
    /// nothing had to be chosen); empty otherwise.
    /// </summary>
    public List<(double Alpha, double Score)> WeightEnsemble { get; } = [];

    /// <summary>The α of the returned weight-space ensemble, or null when no ensemble was asked for.</summary>
    public double? ChosenAlpha { get; internal set; }
}
