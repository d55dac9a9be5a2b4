using System.Linq;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Runtime;

namespace Microsoft.ML.Clip.Transforms;

/// <summary>
/// Estimator for <see cref="LinearProjectionTransformer"/>: nothing is learned, <c>Fit</c> returns the
/// transformer holding the given weights.
/// </summary>
public sealed class LinearProjectionEstimator : TrivialEstimator<LinearProjectionTransformer>
{
    internal LinearProjectionEstimator(IHostEnvironment env, LinearProjectionTransformer transformer)
        : base(Contracts.CheckRef(env, nameof(env)).Register(nameof(LinearProjectionEstimator)), transformer)
    {
    }

    /// <summary>Adds the output vector column; the input must be a known-size <see cref="float"/> vector of the weight's width.</summary>
    public override SchemaShape GetOutputSchema(SchemaShape inputSchema)
    {
        Host.CheckValue(inputSchema, nameof(inputSchema));
        FloatVectorColumn.Check(Host, inputSchema, Transformer.InputColumnName, "input", Transformer.InputSize);

        var columns = inputSchema.ToDictionary(c => c.Name);
        columns[Transformer.OutputColumnName] = new SchemaShape.Column(Transformer.OutputColumnName,
            SchemaShape.Column.VectorKind.Vector, NumberDataViewType.Single, isKey: false);
        return new SchemaShape(columns.Values);
    }
}
