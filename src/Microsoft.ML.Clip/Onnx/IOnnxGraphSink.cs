using System.Collections.Generic;

namespace Microsoft.ML.Clip.Onnx;

/// <summary>
/// Where graph emission goes: a standalone ONNX model (<see cref="OnnxModelBuilder"/>) or, in the ML.NET layer,
/// ML.NET's ONNX conversion context. The towers emit through <see cref="OnnxGraph"/>, which needs only these calls,
/// so one emission serves both.
/// </summary>
internal interface IOnnxGraphSink
{
    /// <summary>The opset the nodes are interpreted in (the builder picks op forms valid there).</summary>
    int Opset { get; }

    /// <summary>Adds a constant; returns its unique variable name (derived from <paramref name="nameHint"/>).</summary>
    string AddInitializer(string nameHint, OnnxTensor tensor);

    /// <summary>Adds a node of the default ONNX domain; returns its outputs' unique variable names.</summary>
    IReadOnlyList<string> AddNode(string opType, IReadOnlyList<string> inputs, int outputCount, string nameHint, IReadOnlyList<OnnxAttribute> attributes);
}

/// <summary>ONNX element types used by the exported graphs (values are <c>TensorProto.DataType</c>).</summary>
internal enum OnnxElementType
{
    Float = 1,
    UInt32 = 12,
    Int64 = 7,
    Float16 = 10,
}

/// <summary>
/// A constant tensor: <see cref="Floats"/> for Float and Float16 (rounded to half precision when written), or
/// <see cref="Longs"/> for Int64. <see cref="Dims"/> empty means a scalar.
/// </summary>
internal sealed record OnnxTensor(OnnxElementType Type, long[] Dims, float[]? Floats = null, long[]? Longs = null)
{
    public static OnnxTensor Int64(long[] dims, params long[] values) => new(OnnxElementType.Int64, dims, Longs: values);
}

/// <summary>A node attribute; <see cref="Value"/> is a long, float, string, long[] or float[].</summary>
internal sealed record OnnxAttribute(string Name, object Value);
