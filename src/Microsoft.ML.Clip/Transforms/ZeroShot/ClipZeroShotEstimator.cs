using System.Linq;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Runtime;

namespace Microsoft.ML.Clip.Transforms;

/// <summary>Estimator for <see cref="ClipZeroShotTransformer"/>: nothing is learned; class embeddings are computed once, when created.</summary>
public sealed class ClipZeroShotEstimator : TrivialEstimator<ClipZeroShotTransformer>
{
    internal ClipZeroShotEstimator(IHostEnvironment env, ClipZeroShotTransformer transformer)
        : base(Contracts.CheckRef(env, nameof(env)).Register(nameof(ClipZeroShotEstimator)), transformer)
    {
    }

    /// <summary>Adds <c>Score</c> (Single vector, one slot per class) and <c>PredictedLabel</c> (key of the class names).</summary>
    public override SchemaShape GetOutputSchema(SchemaShape inputSchema)
    {
        Host.CheckValue(inputSchema, nameof(inputSchema));
        ImageInput.Check(inputSchema, Transformer.ImageColumnName);
        var columns = inputSchema.ToDictionary(c => c.Name);
        var slotNames = new SchemaShape([new SchemaShape.Column(AnnotationUtils.Kinds.SlotNames, SchemaShape.Column.VectorKind.Vector, TextDataViewType.Instance, false)]);
        var keyValues = new SchemaShape([new SchemaShape.Column(AnnotationUtils.Kinds.KeyValues, SchemaShape.Column.VectorKind.Vector, TextDataViewType.Instance, false)]);
        columns[Transformer.ScoreColumnName] = new SchemaShape.Column(Transformer.ScoreColumnName, SchemaShape.Column.VectorKind.Vector, NumberDataViewType.Single, false, slotNames);
        columns[Transformer.PredictedLabelColumnName] = new SchemaShape.Column(Transformer.PredictedLabelColumnName, SchemaShape.Column.VectorKind.Scalar, NumberDataViewType.UInt32, true, keyValues);
        return new SchemaShape(columns.Values);
    }
}
