using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using Microsoft.ML;

namespace Microsoft.ML.Clip.Trainers;

/// <summary>
/// Options for <see cref="ClipLinearProbeEstimator"/>: a linear probe (multinomial logistic regression trained
/// with ML.NET's L-BFGS <c>LbfgsMaximumEntropy</c>) whose L2 regularization strength is chosen by a sweep on
/// held-out data, as in the CLIP paper's linear-probe evaluation.
/// </summary>
/// <remarks>
/// <para><b>Regularization scale.</b> ML.NET's L-BFGS trainers minimize
/// <c>(Σᵢ lossᵢ + ½·L2·‖W‖²) / N</c> over the N training rows (biases are not penalized). Multiplying by N shows
/// that this is exactly scikit-learn's <c>LogisticRegression</c> objective <c>C·Σᵢ lossᵢ + ½‖W‖²</c> with
/// <c>L2 = 1/C</c>. The CLIP paper (and its reference code, which used scikit-learn with <c>C = 1/λ</c>) swept λ
/// over 10⁻⁶…10⁶, so the values in <see cref="L2Grid"/> are the paper's λ and are passed unchanged as
/// ML.NET's <c>L2Regularization</c>. Larger values mean stronger regularization. The penalty is relative to the
/// feature scale: features 10× smaller need a λ 100× smaller for the same fit.</para>
/// <para><b>L1.</b> The probe is a pure L2 model: ML.NET's default L1 weight (1) is replaced by 0.</para>
/// </remarks>
public sealed class ClipLinearProbeOptions
{
    /// <summary>
    /// The paper's starting grid: λ = 10⁻⁶, 10⁻⁴, …, 10⁶ (7 values, two decades apart). With the default 4
    /// refinement steps the search around the best value ends at a resolution of 1/8 decade, the "8 steps per
    /// decade" the paper reports (96 log-spaced values over 12 decades), for 7 + 8 fits instead of 96.
    /// </summary>
    public static IReadOnlyList<float> DefaultL2Grid { get; } = [1e-6f, 1e-4f, 1e-2f, 1f, 1e2f, 1e4f, 1e6f];

    /// <summary>Name of the label column: a key (see <c>MapValueToKey</c>), as <c>LbfgsMaximumEntropy</c> expects. Default "Label".</summary>
    public string LabelColumnName { get; set; } = "Label";

    /// <summary>Name of the feature column: a known-size vector of <see cref="float"/>. Default "Features".</summary>
    public string FeatureColumnName { get; set; } = "Features";

    /// <summary>Optional name of a <see cref="float"/> example-weight column, passed to the trainer.</summary>
    public string? ExampleWeightColumnName { get; set; }

    /// <summary>
    /// Fraction of the rows held out to score each λ when <see cref="ValidationData"/> is null: in (0, 1),
    /// default 0.2. The split is random (not stratified) and deterministic for a given <see cref="Seed"/>.
    /// </summary>
    public double ValidationFraction { get; set; } = 0.2;

    /// <summary>
    /// Optional validation rows, used instead of splitting the training data. They must have the label and
    /// feature columns with the same types as the data given to <c>Fit</c>: when the probe is the last stage
    /// of a pipeline, that means the output of the stages before it (for example,
    /// <c>upstreamModel.Transform(rawValidation)</c>), not the raw rows.
    /// </summary>
    public IDataView? ValidationData { get; set; }

    /// <summary>
    /// With <see cref="ValidationData"/>: whether the final model is trained on the training and validation rows
    /// together (true, the default, as the CLIP paper did) or on the training rows only. Without
    /// <see cref="ValidationData"/> the final model is always trained on all rows given to <c>Fit</c>.
    /// </summary>
    public bool RefitOnValidationData { get; set; } = true;

    /// <summary>
    /// The coarse grid of L2 strengths (ML.NET's <c>L2Regularization</c>, equal to the paper's λ; see the remarks).
    /// Null means <see cref="DefaultL2Grid"/>. Values must be positive and finite; duplicates are ignored.
    /// </summary>
    public IReadOnlyList<float>? L2Grid { get; set; }

    /// <summary>
    /// Number of binary-search refinement steps after the grid (default 4, ≥ 0). Each step evaluates the
    /// log-space midpoints between the best λ so far and its nearest evaluated neighbours on each side
    /// (one side only at the ends of the grid), so the spacing around the best value halves every step.
    /// </summary>
    public int RefinementSteps { get; set; } = 4;

    /// <summary>Seed of the train/validation split; null uses the ML.NET context's random source (seeded by <c>new MLContext(seed)</c>).</summary>
    public int? Seed { get; set; }

    /// <summary>Maximum L-BFGS iterations per fit (default 1000, as the CLIP reference code's <c>max_iter</c>).</summary>
    public int MaximumNumberOfIterations { get; set; } = 1000;

    /// <summary>L-BFGS convergence tolerance (ML.NET's <c>OptimizationTolerance</c>; default 1e-7, ML.NET's default).</summary>
    public float OptimizationTolerance { get; set; } = 1e-7f;

    /// <summary>Threads per L-BFGS fit; null lets ML.NET choose (all cores).</summary>
    public int? NumberOfThreads { get; set; }

    /// <summary>
    /// Receives every evaluated λ with its validation accuracy as soon as it is measured, on the thread that
    /// calls <c>Fit</c> (a <see cref="Progress{T}"/> instance may forward it to a captured synchronization
    /// context). The same lines also go to ML.NET's log (<c>MLContext.Log</c>).
    /// </summary>
    public IProgress<ClipLinearProbeTrial>? Progress { get; set; }

    /// <summary>
    /// Throws an <see cref="ArgumentException"/> (<see cref="ArgumentOutOfRangeException"/> for a value out of range)
    /// naming the first setting that cannot work. Runs when the estimator is created.
    /// </summary>
    internal void Validate()
    {
        ArgumentException.ThrowIfNullOrEmpty(LabelColumnName, nameof(LabelColumnName));
        ArgumentException.ThrowIfNullOrEmpty(FeatureColumnName, nameof(FeatureColumnName));
        if (ExampleWeightColumnName is { Length: 0 })
            throw new ArgumentException("The example weight column name must be null or non-empty.", nameof(ExampleWeightColumnName));
        if (ValidationData is null && !(ValidationFraction > 0 && ValidationFraction < 1))
            throw new ArgumentOutOfRangeException(nameof(ValidationFraction), ValidationFraction,
                $"The validation fraction must be in (0, 1); got {ValidationFraction.ToString(CultureInfo.InvariantCulture)}.");
        if (RefinementSteps < 0)
            throw new ArgumentOutOfRangeException(nameof(RefinementSteps), RefinementSteps, "The number of refinement steps must be ≥ 0.");
        if (MaximumNumberOfIterations <= 0)
            throw new ArgumentOutOfRangeException(nameof(MaximumNumberOfIterations), MaximumNumberOfIterations, "The maximum number of iterations must be positive.");
        if (!(OptimizationTolerance > 0))
            throw new ArgumentOutOfRangeException(nameof(OptimizationTolerance), OptimizationTolerance, "The optimization tolerance must be positive.");
        if (NumberOfThreads is <= 0)
            throw new ArgumentOutOfRangeException(nameof(NumberOfThreads), NumberOfThreads, "The number of threads must be positive.");
        if (L2Grid is not { Count: > 0 })
            throw new ArgumentException("The L2 grid must contain at least one value.", nameof(L2Grid));
        foreach (float value in L2Grid)
            if (!(value > 0) || float.IsInfinity(value))
                throw new ArgumentOutOfRangeException(nameof(L2Grid), value, "L2 grid values must be positive and finite.");
    }

    /// <summary>A copy of these settings with the grid resolved (<see cref="DefaultL2Grid"/> when null) and its duplicates removed.</summary>
    internal ClipLinearProbeOptions Copy()
    {
        var copy = (ClipLinearProbeOptions)MemberwiseClone();
        copy.L2Grid = (L2Grid ?? DefaultL2Grid).Distinct().ToArray();
        return copy;
    }
}
