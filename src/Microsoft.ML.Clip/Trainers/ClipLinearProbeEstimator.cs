using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using Microsoft.ML;
using Microsoft.ML.Clip.Transforms;
using Microsoft.ML.Clip.Transforms.Batching;
using Microsoft.ML.Data;
using Microsoft.ML.Runtime;
using Microsoft.ML.Trainers;
using Microsoft.ML.Transforms;

namespace Microsoft.ML.Clip.Trainers;

/// <summary>
/// A linear probe with an automatic L2 sweep, as in the CLIP paper: for every λ of a coarse log-spaced grid
/// it trains ML.NET's <c>LbfgsMaximumEntropy</c> (multinomial logistic regression, L-BFGS) on the training
/// part and measures accuracy on held-out rows, refines the best λ by a binary search in log space, then
/// trains the final model with the chosen λ on all rows.
/// </summary>
/// <remarks>
/// <para><c>Fit</c> returns a <see cref="ClipLinearProbeTransformer"/>: ML.NET's transformer of
/// <c>LbfgsMaximumEntropy</c> with the sweep beside it, saved together, so a plain <c>MLContext.Model.Load</c> returns the
/// same type. Every evaluated λ and its validation accuracy are in its <see cref="ClipLinearProbeTransformer.Sweep"/>, in
/// ML.NET's log, and reported to <see cref="ClipLinearProbeOptions.Progress"/>.</para>
/// <para>Rows are cached (only the columns the trainer reads) before the sweep, so stages before the probe in
/// a pipeline, such as an image encoder, run once rather than once per λ.</para>
/// <para>Cost: (grid size + up to 2 × refinement steps + 1) L-BFGS fits; with the defaults at most 16.</para>
/// </remarks>
public sealed class ClipLinearProbeEstimator : IEstimator<ClipLinearProbeTransformer>
{
    private readonly IHost _host;
    private readonly MulticlassClassificationCatalog _multiclass;
    private readonly DataOperationsCatalog _data;

    /// <summary>The options this estimator was created with (a copy; later changes to the caller's instance do not apply).</summary>
    internal ClipLinearProbeOptions Options { get; }

    internal ClipLinearProbeEstimator(IHostEnvironment env, ClipLinearProbeOptions options)
    {
        Contracts.CheckValue(env, nameof(env));
        _host = env.Register(nameof(ClipLinearProbeEstimator));
        _host.CheckValue(options, nameof(options));
        Options = options.Copy(); // later changes to the caller's object do not apply
        Options.Validate();
        _multiclass = new MulticlassClassificationCatalog(env);
        _data = new DataOperationsCatalog(env);
    }

    /// <summary>
    /// The output schema of the final model: ML.NET's multiclass <c>Score</c> and <c>PredictedLabel</c> columns.
    /// Checks that the feature column is a known-size <see cref="float"/> vector and that the label is a key.
    /// </summary>
    public SchemaShape GetOutputSchema(SchemaShape inputSchema)
    {
        _host.CheckValue(inputSchema, nameof(inputSchema));
        FloatVectorColumn.Check(_host, inputSchema, Options.FeatureColumnName, "feature");
        // The label (and weight) checks are LbfgsMaximumEntropy's own.
        return MakeTrainer(1f).GetOutputSchema(inputSchema);
    }

    /// <summary>
    /// Runs the sweep and returns the model trained with the chosen λ, with the sweep.
    /// </summary>
    /// <param name="input">Rows with the label and feature columns.</param>
    public ClipLinearProbeTransformer Fit(IDataView input)
    {
        _host.CheckValue(input, nameof(input));
        CheckData(input.Schema, nameof(input));
        var validationInput = Options.ValidationData;
        if (validationInput is not null)
        {
            CheckData(validationInput.Schema, nameof(Options.ValidationData));
            // Same key mapping and width, or the accuracies would silently compare different classes.
            foreach (string name in NeededColumns())
            {
                var expected = input.Schema[name].Type;
                var actual = validationInput.Schema.GetColumnOrNull(name)?.Type;
                if (actual is null)
                    throw _host.ExceptSchemaMismatch(nameof(Options.ValidationData), "validation", name);
                if (!expected.Equals(actual))
                    throw _host.ExceptSchemaMismatch(nameof(Options.ValidationData), "validation", name,
                        $"{expected} (the type in the training data; transform validation rows with the same fitted stages)", actual.ToString());
            }
        }

        using var ch = _host.Start("Linear probe sweep");
        string[] columns = NeededColumns();

        // Cache what the trainer reads, so upstream stages run once for all the fits.
        var all = Cache(input, columns);
        IDataView train, validation, final;
        if (validationInput is null)
        {
            var split = _data.TrainTestSplit(all, Options.ValidationFraction, samplingKeyColumnName: null, seed: Options.Seed);
            train = Cache(split.TrainSet, columns);
            validation = Cache(split.TestSet, columns);
            final = all;
        }
        else
        {
            train = all;
            validation = Cache(validationInput, columns);
            final = Options.RefitOnValidationData ? AppendRowsDataView.Create(_host, all.Schema, all, validation) : all;
        }

        long trainRows = DataViewRows.Count(train);
        long validationRows = DataViewRows.Count(validation);
        if (trainRows == 0 || validationRows == 0)
            throw _host.Except($"The linear probe sweep needs training and validation rows; the split left {trainRows} " +
                $"training and {validationRows} validation rows. Provide more rows, another ValidationFraction, or ValidationData.");
        ch.Info($"Linear probe sweep: {trainRows} training rows, {validationRows} validation rows, " +
            $"{Options.L2Grid!.Count} grid values, {Options.RefinementSteps} refinement steps.");

        var trials = new List<ClipLinearProbeTrial>();
        void Evaluate(float l2, ClipLinearProbeStage stage, int step)
        {
            _host.CheckAlive();
            var model = MakeTrainer(l2).Fit(train);
            var metrics = _multiclass.Evaluate(model.Transform(validation), labelColumnName: Options.LabelColumnName);
            var trial = new ClipLinearProbeTrial(l2, metrics.MicroAccuracy, stage, step);
            trials.Add(trial);
            ch.Info($"Linear probe: L2 = {l2.ToString("G6", CultureInfo.InvariantCulture)} ({stage}{(step > 0 ? " " + step : "")}): " +
                $"validation accuracy {metrics.MicroAccuracy.ToString("F4", CultureInfo.InvariantCulture)}");
            Options.Progress?.Report(trial);
        }

        foreach (float l2 in Options.L2Grid!)
            Evaluate(l2, ClipLinearProbeStage.Grid, 0);

        for (int step = 1; step <= Options.RefinementSteps; step++)
        {
            var best = Best(trials);
            var tried = trials.Select(t => t.L2Regularization).ToHashSet();
            float? lower = tried.Where(v => v < best.L2Regularization).Select(v => (float?)v).Max();
            float? upper = tried.Where(v => v > best.L2Regularization).Select(v => (float?)v).Min();
            bool any = false;
            foreach (var neighbour in new[] { lower, upper })
            {
                if (neighbour is not float n)
                    continue;
                float midpoint = GeometricMean(best.L2Regularization, n);
                if (tried.Contains(midpoint))
                    continue; // the interval reached float resolution
                Evaluate(midpoint, ClipLinearProbeStage.Refinement, step);
                any = true;
            }
            if (!any)
                break;
        }

        var chosen = Best(trials);
        ch.Info($"Linear probe: chose L2 = {chosen.L2Regularization.ToString("G6", CultureInfo.InvariantCulture)} " +
            $"(validation accuracy {chosen.ValidationAccuracy.ToString("F4", CultureInfo.InvariantCulture)}); training the final model.");
        var result = MakeTrainer(chosen.L2Regularization).Fit(final);
        long finalRows = ReferenceEquals(final, train) ? trainRows : DataViewRows.Count(final);
        return new ClipLinearProbeTransformer(result, new ClipLinearProbeSweep(trials.AsReadOnly(), chosen.L2Regularization,
            chosen.ValidationAccuracy, trainRows, validationRows, finalRows));
    }

    /// <summary>The highest accuracy; among equal accuracies the largest λ (the most regularized model).</summary>
    internal static ClipLinearProbeTrial Best(IReadOnlyList<ClipLinearProbeTrial> trials)
    {
        var best = trials[0];
        foreach (var trial in trials)
        {
            if (trial.ValidationAccuracy > best.ValidationAccuracy
                || (trial.ValidationAccuracy == best.ValidationAccuracy && trial.L2Regularization > best.L2Regularization))
                best = trial;
        }
        return best;
    }

    private static float GeometricMean(float a, float b) => (float)Math.Exp(0.5 * (Math.Log(a) + Math.Log(b)));

    private LbfgsMaximumEntropyMulticlassTrainer MakeTrainer(float l2) =>
        _multiclass.Trainers.LbfgsMaximumEntropy(new LbfgsMaximumEntropyMulticlassTrainer.Options
        {
            LabelColumnName = Options.LabelColumnName,
            FeatureColumnName = Options.FeatureColumnName,
            ExampleWeightColumnName = Options.ExampleWeightColumnName,
            L2Regularization = l2,
            L1Regularization = 0,
            MaximumNumberOfIterations = Options.MaximumNumberOfIterations,
            OptimizationTolerance = Options.OptimizationTolerance,
            NumberOfThreads = Options.NumberOfThreads,
        });

    private string[] NeededColumns() => Options.ExampleWeightColumnName is { } weight
        ? [Options.LabelColumnName, Options.FeatureColumnName, weight]
        : [Options.LabelColumnName, Options.FeatureColumnName];

    /// <summary>Schema checks with messages naming the column and the expected type.</summary>
    private void CheckData(DataViewSchema schema, string parameterName)
    {
        FloatVectorColumn.Find(_host, schema, Options.FeatureColumnName, "feature", parameterName: parameterName);
        GetOutputSchema(SchemaShape.Create(schema));
    }

    private IDataView Cache(IDataView data, string[] columns) =>
        new CacheDataView(_host, new ColumnSelectingTransformer(_host, columns, null, keepHidden: false).Transform(data), prefetch: null);

}
