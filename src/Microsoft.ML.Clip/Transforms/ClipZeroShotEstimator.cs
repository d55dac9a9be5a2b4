using System.Collections.Generic;
using System.Linq;
using Microsoft.ML;
using Microsoft.ML.Clip.Transforms.Clip;
using Microsoft.ML.Data;
using Microsoft.ML.Runtime;

namespace Microsoft.ML.Clip.Transforms;

/// <summary>
/// Estimator for <see cref="ClipZeroShotTransformer"/>. What it learns in <see cref="Fit"/> is the classes: the
/// prompt-ensembled class embeddings the model's text tower gives the class names and templates (computed there, with the
/// bundle's weights of that moment, and saved with the transformer). Created by <c>mlContext.Transforms.ClipZeroShot</c>.
/// </summary>
public sealed class ClipZeroShotEstimator : IEstimator<ClipZeroShotTransformer>
{
    private readonly IHost _host;
    private readonly ClipModelBundle _bundle;
    private readonly string _imageColumnName, _scoreColumnName, _predictedLabelColumnName;
    private readonly string[] _classNames, _templates;
    private readonly int _batchSize;

    internal ClipZeroShotEstimator(IHostEnvironment env, ClipModelBundle bundle, string imageColumnName, IReadOnlyList<string> classNames,
        IReadOnlyList<string> templates, string scoreColumnName, string predictedLabelColumnName, int batchSize)
    {
        _host = Contracts.CheckRef(env, nameof(env)).Register(nameof(ClipZeroShotEstimator));
        _host.CheckValue(bundle, nameof(bundle));
        _host.CheckNonEmpty(imageColumnName, nameof(imageColumnName));
        _host.CheckNonEmpty(scoreColumnName, nameof(scoreColumnName));
        _host.CheckNonEmpty(predictedLabelColumnName, nameof(predictedLabelColumnName));
        _host.CheckUserArg(batchSize > 0, nameof(batchSize), "The batch size must be positive.");
        ClipZeroShotTransformer.CheckArguments(classNames, templates);
        _bundle = bundle;
        (_imageColumnName, _scoreColumnName, _predictedLabelColumnName) = (imageColumnName, scoreColumnName, predictedLabelColumnName);
        (_classNames, _templates) = (classNames.ToArray(), templates.ToArray());
        _batchSize = batchSize;
    }

    /// <summary>Checks the image column of <paramref name="input"/> and computes the class embeddings.</summary>
    public ClipZeroShotTransformer Fit(IDataView input)
    {
        _host.CheckValue(input, nameof(input));
        GetOutputSchema(SchemaShape.Create(input.Schema));
        return new ClipZeroShotTransformer(_host, _bundle, _imageColumnName, _classNames, _templates, _scoreColumnName, _predictedLabelColumnName, _batchSize);
    }

    /// <summary>Adds <c>Score</c> (Single vector, one slot per class) and <c>PredictedLabel</c> (key of the class names).</summary>
    public SchemaShape GetOutputSchema(SchemaShape inputSchema)
    {
        _host.CheckValue(inputSchema, nameof(inputSchema));
        ImageInput.Check(inputSchema, _imageColumnName);
        var columns = inputSchema.ToDictionary(c => c.Name);
        var slotNames = new SchemaShape([new SchemaShape.Column(AnnotationUtils.Kinds.SlotNames, SchemaShape.Column.VectorKind.Vector, TextDataViewType.Instance, false)]);
        var keyValues = new SchemaShape([new SchemaShape.Column(AnnotationUtils.Kinds.KeyValues, SchemaShape.Column.VectorKind.Vector, TextDataViewType.Instance, false)]);
        columns[_scoreColumnName] = new SchemaShape.Column(_scoreColumnName, SchemaShape.Column.VectorKind.Vector, NumberDataViewType.Single, false, slotNames);
        columns[_predictedLabelColumnName] = new SchemaShape.Column(_predictedLabelColumnName, SchemaShape.Column.VectorKind.Scalar, NumberDataViewType.UInt32, true, keyValues);
        return new SchemaShape(columns.Values);
    }
}
