using System;
using System.IO;
using System.Linq;
using Microsoft.ML;
using Microsoft.ML.Clip.Trainers;
using Microsoft.ML.Data;
using Microsoft.ML.Runtime;
using Microsoft.ML.Trainers;

[assembly: LoadableClass(typeof(ClipLinearProbeTransformer), null, typeof(SignatureLoadModel),
    "CLIP Linear Probe", ClipLinearProbeTransformer.LoaderSignature)]

namespace Microsoft.ML.Clip.Trainers;

/// <summary>
/// A fitted <see cref="ClipLinearProbeEstimator"/>: ML.NET's <c>LbfgsMaximumEntropy</c> prediction transformer
/// trained with the chosen λ (<see cref="Inner"/>, which does all the work) and the <see cref="Sweep"/> that chose it.
/// Saved with both, so <c>Model.Load</c> returns this type again, sweep included (zips written by earlier versions hold
/// the inner transformer alone and load as ML.NET's type, as they did).
/// </summary>
public sealed class ClipLinearProbeTransformer : ISingleFeaturePredictionTransformer<MaximumEntropyModelParameters>
{
    internal const string LoaderSignature = "ClipLinearProbe"; // at most 24 characters (ML.NET's model header)
    private const string InnerModelName = "Model";

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

    private static VersionInfo GetVersionInfo() => new(
        modelSignature: "CLIPLPRB",
        verWrittenCur: 0x00010001,
        verReadableCur: 0x00010001,
        verWeCanReadBack: 0x00010001,
        loaderSignature: LoaderSignature,
        loaderAssemblyName: typeof(ClipLinearProbeTransformer).Assembly.FullName);

    // *** Binary format ***
    // sub-model "Model": ML.NET's MulticlassPredictionTransformer (what earlier versions saved alone)
    // int T, T × (float: L2, double: validation accuracy, int: stage, int: step)
    // float: chosen L2, double: its accuracy, long: training rows, long: validation rows, long: final rows
    /// <summary>Writes the inner transformer and the sweep.</summary>
    void ICanSaveModel.Save(ModelSaveContext ctx)
    {
        ctx.CheckAtModel();
        ctx.SetVersionInfo(GetVersionInfo());
        ctx.SaveModel(Inner, InnerModelName);
        var w = ctx.Writer;
        w.Write(Sweep.Trials.Count);
        foreach (var trial in Sweep.Trials)
        {
            w.Write(trial.L2Regularization);
            w.Write(trial.ValidationAccuracy);
            w.Write((int)trial.Stage);
            w.Write(trial.Step);
        }
        w.Write(Sweep.ChosenL2Regularization);
        w.Write(Sweep.ChosenValidationAccuracy);
        w.Write(Sweep.TrainingRowCount);
        w.Write(Sweep.ValidationRowCount);
        w.Write(Sweep.FinalRowCount);
    }

    private static ClipLinearProbeTransformer Create(IHostEnvironment env, ModelLoadContext ctx)
    {
        Contracts.CheckValue(env, nameof(env));
        env.CheckValue(ctx, nameof(ctx));
        ctx.CheckAtModel(GetVersionInfo());
        ctx.LoadModel<ISingleFeaturePredictionTransformer<object>, SignatureLoadModel>(env, out var loaded, InnerModelName);
        var inner = loaded as MulticlassPredictionTransformer<MaximumEntropyModelParameters>
            ?? throw new InvalidDataException($"The linear probe in '{ctx.Directory}' holds a {loaded.GetType().Name}, not an LbfgsMaximumEntropy model.");
        var r = ctx.Reader;
        int count = r.ReadInt32();
        if (count is < 0 or > 100_000)
            throw new InvalidDataException($"The linear probe in '{ctx.Directory}' declares {count} sweep trials.");
        var trials = Enumerable.Range(0, count)
            .Select(_ => new ClipLinearProbeTrial(r.ReadSingle(), r.ReadDouble(), ReadStage(r, ctx), r.ReadInt32()))
            .ToList();
        var sweep = new ClipLinearProbeSweep(trials.AsReadOnly(), r.ReadSingle(), r.ReadDouble(), r.ReadInt64(), r.ReadInt64(), r.ReadInt64());
        return new ClipLinearProbeTransformer(inner, sweep);
    }

    private static ClipLinearProbeStage ReadStage(BinaryReader reader, ModelLoadContext ctx)
    {
        var stage = (ClipLinearProbeStage)reader.ReadInt32();
        return Enum.IsDefined(stage) ? stage
            : throw new InvalidDataException($"The linear probe in '{ctx.Directory}' declares an unknown sweep stage ({(int)stage}).");
    }
}
