using Microsoft.ML;
using Microsoft.ML.Clip.Trainers;
using Microsoft.ML.Data;
using Microsoft.ML.Runtime;

namespace Microsoft.ML.Clip;

/// <summary>Catalog extension methods for <see cref="ClipLinearProbeEstimator"/>.</summary>
public static class LinearProbeCatalog
{
    /// <summary>
    /// A CLIP-style linear probe: ML.NET's L-BFGS multinomial logistic regression (<c>LbfgsMaximumEntropy</c>)
    /// whose L2 strength is chosen by a sweep on held-out rows (20% of the data; a log-spaced grid
    /// 10⁻⁶…10⁶ refined by binary search), then refitted on all rows. The result is the standard
    /// <c>LbfgsMaximumEntropy</c> model, with the sweep in <see cref="ClipLinearProbeTransformer.Sweep"/>.
    /// </summary>
    /// <param name="catalog">The multiclass classification trainers catalog.</param>
    /// <param name="labelColumnName">The label column, a key (use <c>MapValueToKey</c>).</param>
    /// <param name="featureColumnName">The feature column, a known-size vector of <see cref="float"/> (for example CLIP image embeddings).</param>
    /// <example>
    /// <code>
    /// var probe = mlContext.MulticlassClassification.Trainers.ClipLinearProbe("Label", "Embedding");
    /// var pipeline = mlContext.Transforms.Conversion.MapValueToKey("Label")
    ///     .Append(probe)
    ///     .Append(mlContext.Transforms.Conversion.MapKeyToValue("PredictedLabel"));
    /// var model = pipeline.Fit(train);
    /// Console.WriteLine($"chosen L2 = {model.LastTransformer.LastTransformer.Sweep.ChosenL2Regularization}");
    /// </code>
    /// </example>
    public static ClipLinearProbeEstimator ClipLinearProbe(this MulticlassClassificationCatalog.MulticlassClassificationTrainers catalog,
        string labelColumnName = "Label", string featureColumnName = "Features")
        => catalog.ClipLinearProbe(new ClipLinearProbeOptions { LabelColumnName = labelColumnName, FeatureColumnName = featureColumnName });

    /// <summary>
    /// A CLIP-style linear probe with explicit options: validation rows or fraction, the L2 grid (see
    /// <see cref="ClipLinearProbeOptions"/> for how it maps to ML.NET's <c>L2Regularization</c>), refinement
    /// steps, seed, L-BFGS limits and a progress callback.
    /// </summary>
    /// <param name="catalog">The multiclass classification trainers catalog.</param>
    /// <param name="options">The options; copied, so later changes do not affect the estimator.</param>
    public static ClipLinearProbeEstimator ClipLinearProbe(this MulticlassClassificationCatalog.MulticlassClassificationTrainers catalog,
        ClipLinearProbeOptions options)
    {
        var env = CatalogUtils.GetEnvironment(catalog);
        return new ClipLinearProbeEstimator(env, options);
    }
}
