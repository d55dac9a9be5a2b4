using System.Linq;
using Microsoft.ML;
using Microsoft.ML.Clip.Transforms.Clip;
using Microsoft.ML.Data;
using Microsoft.ML.Runtime;

namespace Microsoft.ML.Clip.Transforms;

/// <summary>
/// Estimator for <see cref="ClipEmbeddingTransformer"/> from an already trained model: nothing is learned,
/// <c>Fit</c> returns the transformer.
/// </summary>
public sealed class ClipEmbeddingEstimator : TrivialEstimator<ClipEmbeddingTransformer>
{
    internal ClipEmbeddingEstimator(IHostEnvironment env, ClipEmbeddingTransformer transformer)
        : base(Contracts.CheckRef(env, nameof(env)).Register(nameof(ClipEmbeddingEstimator)), transformer)
    {
    }

    /// <summary>Adds the embedding columns; the inputs must be an image column and/or a text column.</summary>
    public override SchemaShape GetOutputSchema(SchemaShape inputSchema) =>
        EmbeddingSchema.Add(inputSchema, Transformer.Image, Transformer.Text);
}

/// <summary>Schema propagation shared by the embedding stages.</summary>
internal static class EmbeddingSchema
{
    public static SchemaShape Add(SchemaShape inputSchema, (string Output, string Input)? image, (string Output, string Input)? text)
    {
        Contracts.CheckValue(inputSchema, nameof(inputSchema));
        var columns = inputSchema.ToDictionary(c => c.Name);
        if (image is { } i)
        {
            ImageInput.Check(inputSchema, i.Input);
            columns[i.Output] = new SchemaShape.Column(i.Output, SchemaShape.Column.VectorKind.Vector, NumberDataViewType.Single, isKey: false);
        }
        if (text is { } t)
        {
            TextInput.Check(inputSchema, t.Input);
            columns[t.Output] = new SchemaShape.Column(t.Output, SchemaShape.Column.VectorKind.Vector, NumberDataViewType.Single, isKey: false);
        }
        return new SchemaShape(columns.Values);
    }
}
