using System;
using Microsoft.ML.Clip.Onnx;
using Microsoft.ML.Data;
using Microsoft.ML.Model.OnnxConverter;

namespace Microsoft.ML.Clip.Transforms.Onnx;

/// <summary>
/// The CLIP stages' input columns as ONNX graph values for <c>ConvertToOnnx</c>: preprocessed pixels become
/// [N, 3, S, S] float32, token ids [N, context] int64. Inputs ONNX cannot express (encoded image bytes, MLImage,
/// text) are refused with an error saying what the converted model takes instead.
/// </summary>
internal static class OnnxStageInputs
{
    /// <summary>The pixels of <paramref name="column"/> (a Vector&lt;Single&gt; of 3 × size × size).</summary>
    public static string Pixels(OnnxContext context, OnnxGraph graph, DataViewSchema.Column column, int imageSize)
    {
        if (column.Type is not VectorDataViewType { ItemType: var item } || item != NumberDataViewType.Single)
            throw new NotSupportedException(
                $"Image column '{column.Name}' holds {column.Type}: ONNX cannot decode or resize images. Give the stage preprocessed pixels " +
                $"instead (a Vector<Single> column of 3 × {imageSize} × {imageSize} values in channel planes, as ClipImagePreprocessor writes " +
                "them); the converted model then takes that column.");
        return graph.Reshape(Variable(context, column), "pixels", -1, 3, imageSize, imageSize);
    }

    /// <summary>The token ids of <paramref name="column"/> (Vector&lt;Int32/Int64&gt; of known size ≤ context), padded with <paramref name="padId"/> to <paramref name="contextLength"/>, as int64.</summary>
    public static string TokenIds(OnnxContext context, OnnxGraph graph, DataViewSchema.Column column, int contextLength, int padId)
    {
        var type = column.Type as VectorDataViewType;
        bool ids = type is not null && (type.ItemType == NumberDataViewType.Int32 || type.ItemType == NumberDataViewType.Int64);
        if (!ids || type!.Size == 0)
            throw new NotSupportedException(
                $"Text column '{column.Name}' holds {column.Type}: the ONNX conversion does not tokenize text. Give the stage token ids instead " +
                $"(a Vector<Int64> or Vector<Int32> column of known size, at most {contextLength}, from the bundle's tokenizer); the converted " +
                "model then takes that column.");
        var tokens = Variable(context, column);
        if (type.ItemType == NumberDataViewType.Int32) tokens = graph.Cast(tokens, OnnxElementType.Int64, "token_ids");
        if (type.Size < contextLength)
            tokens = graph.Op("Pad", "token_ids_padded", [tokens, graph.Int64s("token_pads", 0, 0, 0, contextLength - type.Size), graph.Int64s("token_pad_id", padId)]);
        return tokens;
    }

    /// <summary>Makes <paramref name="value"/> the ONNX variable of output column <paramref name="name"/>.</summary>
    public static void Output(OnnxContext context, string value, string name, DataViewType type) =>
        context.CreateNode("Identity", value, context.AddIntermediateVariable(type, name), context.GetNodeName("Identity"), "");

    private static string Variable(OnnxContext context, DataViewSchema.Column column) =>
        context.ContainsColumn(column.Name) ? context.GetVariableName(column.Name)
            : throw new InvalidOperationException($"Column '{column.Name}' has no value in the ONNX graph: a stage before the CLIP stage could not be converted.");
}
