using System;
using System.Collections.Generic;
using System.Linq;
using Microsoft.ML.Clip.Onnx;
using Microsoft.ML.Model.OnnxConverter;

namespace Microsoft.ML.Clip.Transforms.Onnx;

/// <summary>
/// The ML.NET sink of graph emission: adds the towers' nodes and constants to ML.NET's ONNX conversion context
/// (<c>mlContext.Model.ConvertToOnnx</c>), so a pipeline's CLIP stages become part of the one ONNX model ML.NET
/// writes. ML.NET converts at opsets 11 to 12 (its default is 12); the graph builder uses the forms valid there.
/// </summary>
internal sealed class OnnxContextSink : IOnnxGraphSink
{
    private readonly OnnxContext _context;
    private readonly string _prefix;

    /// <param name="context">ML.NET's conversion context.</param>
    /// <param name="stage">Names the converting stage in errors, and prefixes every emitted name so that none is taken for a column.</param>
    public OnnxContextSink(OnnxContext context, string stage)
    {
        _context = context ?? throw new ArgumentNullException(nameof(context));
        _context.CheckOpSetVersion(11, stage);
        _prefix = context.GetNodeName(stage) + ".";
    }

    // Every form the builder picks is the same at opsets 11 and 12 (axes as attributes, no LayerNormalization op).
    public int Opset => 12;

    public string AddInitializer(string nameHint, OnnxTensor tensor)
    {
        string hint = _prefix + nameHint;
        bool scalar = tensor.Dims.Length == 0; // the context's tensor overloads need at least one dimension
        string name = tensor.Type switch
        {
            OnnxElementType.Float when scalar => _context.AddInitializer(tensor.Floats![0], hint),
            OnnxElementType.Int64 when scalar => _context.AddInitializer(tensor.Longs![0], hint),
            OnnxElementType.Float => _context.AddInitializer(tensor.Floats!, tensor.Dims, hint),
            OnnxElementType.Int64 => _context.AddInitializer(tensor.Longs!, tensor.Dims, hint),
            _ => throw new NotSupportedException($"ML.NET's ONNX conversion cannot hold {tensor.Type} constants; CLIP stages convert in float32."),
        };
        _context.RemoveColumn(hint); // the context maps every new name to a column of that name: it is not one
        return name;
    }

    public IReadOnlyList<string> AddNode(string opType, IReadOnlyList<string> inputs, int outputCount, string nameHint, IReadOnlyList<OnnxAttribute> attributes)
    {
        var outputs = Enumerable.Range(0, outputCount).Select(i => Variable(outputCount == 1 ? nameHint : $"{nameHint}_{i}")).ToArray();
        // Domain "": the standard operators (the context defaults to ai.onnx.ml).
        var node = _context.CreateNode(opType, inputs, outputs, _context.GetNodeName(_prefix + nameHint), "");
        foreach (var attribute in attributes)
            AddAttribute(node, attribute);
        return outputs;
    }

    /// <summary>A fresh variable name that is not taken for a column.</summary>
    public string Variable(string nameHint)
    {
        string hint = _prefix + nameHint;
        string name = _context.AddIntermediateVariable(null, hint, skip: true);
        _context.RemoveColumn(hint);
        return name;
    }

    private static void AddAttribute(OnnxNode node, OnnxAttribute attribute)
    {
        switch (attribute.Value)
        {
            case long i: node.AddAttribute(attribute.Name, i); break;
            case float f: node.AddAttribute(attribute.Name, (double)f); break;
            case string s: node.AddAttribute(attribute.Name, s); break;
            case long[] ints: node.AddAttribute(attribute.Name, (IEnumerable<long>)ints); break;
            case float[] floats: node.AddAttribute(attribute.Name, (IEnumerable<float>)floats); break;
            default: throw new ArgumentException($"Attribute '{attribute.Name}' has an unsupported value type {attribute.Value.GetType().Name}.");
        }
    }
}
