using System;
using Microsoft.ML.Data;
using Microsoft.ML.Trainers;

namespace Microsoft.ML.Clip.Trainers;

/// <summary>
/// A fitted <see cref="ClipLinearProbeEstimator"/>: ML.NET's <c>LbfgsMaximumEntropy</c> prediction transformer
/// trained with the chosen λ (<see cref="Inner"/>, which does all the work) and the <see cref="Sweep"/> that chose it.
/// It saves as the inner transformer alone, so a saved model needs nothing from this library to load and score
/// (and <c>Model.Load</c> returns ML.NET's transformer; the sweep is not saved).
/// </summary>
public sealed class ClipLinearProbeTransformer : ISingleFeaturePredictionTransformer<MaximumEntropyModelParameters>
{
    internal ClipLinearProbeTransformer(MulticlassPredictionTransformer<MaximumEntropyModelParameters> inner, ClipLinearProbeSweep sweep)
    {
        Inner = inner ?? throw new ArgumentNullException(nameof(inner));
        Sweep = sweep ?? throw new ArgumentNullException(nameof(sweep));
    }

    /// <summary>ML.NET's transformer of the final model.</summary>
    public MulticlassPredictionTransformer<MaximumEntropyModelParameters> Inner { get; }

    /// <summary>Every evaluated λ with its validation accuracy, the chosen λ and the row counts of the Fit.</summary>
    public ClipLinearProbeSweep Sweep { get; }

    /// <summary>The logistic regression's weights and biases.</summary>
    public MaximumEntropyModelParameters Model => Inner.Model;

    /// <inheritdoc/>
    public string FeatureColumnName => Inner.FeatureColumnName;

    /// <inheritdoc/>
    public DataViewType FeatureColumnType => Inner.FeatureColumnType;

    /// <inheritdoc/>
    public bool IsRowToRowMapper => ((ITransformer)Inner).IsRowToRowMapper;

    /// <inheritdoc/>
    public DataViewSchema GetOutputSchema(DataViewSchema inputSchema) => Inner.GetOutputSchema(inputSchema);

    /// <inheritdoc/>
    public IRowToRowMapper GetRowToRowMapper(DataViewSchema inputSchema) => ((ITransformer)Inner).GetRowToRowMapper(inputSchema);

    /// <inheritdoc/>
    public IDataView Transform(IDataView input) => Inner.Transform(input);

    /// <summary>Saves the inner transformer (loader signature and all): it is what loads back.</summary>
    void ICanSaveModel.Save(ModelSaveContext ctx) => ((ICanSaveModel)Inner).Save(ctx);
}
