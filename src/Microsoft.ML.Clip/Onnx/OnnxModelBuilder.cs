using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Runtime.InteropServices;

namespace Microsoft.ML.Clip.Onnx;

/// <summary>
/// The standalone sink: collects nodes, initializers, graph inputs and outputs and metadata, and writes an ONNX
/// <c>ModelProto</c> (IR version 8, default domain at <see cref="Opset"/>). Weights go into <c>raw_data</c>
/// (little-endian), so a model is written in one pass without a protobuf library.
/// </summary>
internal sealed class OnnxModelBuilder : IOnnxGraphSink
{
    // ONNX IR version 8 goes with opsets 15 to 18 (onnx/docs/Versioning.md).
    private const long IrVersion = 8;
    private readonly List<ProtoMessage> _nodes = new();
    private readonly List<ProtoMessage> _initializers = new();
    private readonly List<ProtoMessage> _inputs = new();
    private readonly List<ProtoMessage> _outputs = new();
    private readonly List<(string Key, string Value)> _metadata = new();
    private readonly HashSet<string> _names = new(StringComparer.Ordinal);
    private int _counter;

    public OnnxModelBuilder(string graphName, int opset = 17)
    {
        GraphName = graphName;
        Opset = opset;
    }

    public string GraphName { get; }

    public int Opset { get; }

    /// <summary>Declares a graph input; a null dimension is dynamic, named by <paramref name="dynamicDimName"/>.</summary>
    public string AddInput(string name, OnnxElementType type, long?[] dims, string dynamicDimName = "batch")
    {
        Reserve(name);
        _inputs.Add(ValueInfo(name, type, dims, dynamicDimName));
        return name;
    }

    /// <summary>Makes <paramref name="variable"/> a graph output named <paramref name="name"/> (through an Identity node).</summary>
    public void AddOutput(string name, string variable, OnnxElementType type, long?[] dims, string dynamicDimName = "batch")
    {
        Reserve(name);
        _nodes.Add(Node("Identity", [variable], [name], Unique("output_" + name), []));
        _outputs.Add(ValueInfo(name, type, dims, dynamicDimName));
    }

    /// <summary>Adds a <c>metadata_props</c> entry (ONNX Runtime shows them as the model's custom metadata).</summary>
    public void AddMetadata(string key, string value) => _metadata.Add((key, value));

    public string AddInitializer(string nameHint, OnnxTensor tensor)
    {
        string name = Unique(nameHint);
        var proto = new ProtoMessage().Ints(1, tensor.Dims).Int(2, (long)tensor.Type).String(8, name).Bytes(9, RawData(tensor));
        _initializers.Add(proto);
        return name;
    }

    public IReadOnlyList<string> AddNode(string opType, IReadOnlyList<string> inputs, int outputCount, string nameHint, IReadOnlyList<OnnxAttribute> attributes)
    {
        var outputs = Enumerable.Range(0, outputCount).Select(i => Unique(outputCount == 1 ? nameHint : $"{nameHint}_{i}")).ToArray();
        _nodes.Add(Node(opType, inputs, outputs, Unique("node_" + nameHint), attributes));
        return outputs;
    }

    /// <summary>Writes the model to <paramref name="stream"/>.</summary>
    public void WriteTo(Stream stream, string producerVersion)
    {
        var graph = new ProtoMessage();
        foreach (var node in _nodes) graph.Message(1, node);
        graph.String(2, GraphName);
        foreach (var init in _initializers) graph.Message(5, init);
        foreach (var input in _inputs) graph.Message(11, input);
        foreach (var output in _outputs) graph.Message(12, output);

        var model = new ProtoMessage().Int(1, IrVersion).String(2, "ClipMlNet").String(3, producerVersion).String(4, "microsoft.ml.clip")
            .Int(5, 1).Message(7, graph).Message(8, new ProtoMessage().String(1, "").Int(2, Opset));
        foreach (var (key, value) in _metadata)
            model.Message(14, new ProtoMessage().String(1, key).String(2, value));
        // Protocol buffers (and so ONNX Runtime's loader) stop at 2 GiB per message; larger models need ONNX's external
        // data files, which this writer does not produce.
        if (model.Size > int.MaxValue)
            throw new NotSupportedException($"The ONNX graph '{GraphName}' would take {model.Size:N0} bytes, above the 2 GiB a protobuf file can hold; " +
                "export in float16 (half the size) or use a smaller model.");
        model.WriteTo(stream);
    }

    private static ProtoMessage Node(string opType, IReadOnlyList<string> inputs, IReadOnlyList<string> outputs, string name, IReadOnlyList<OnnxAttribute> attributes)
    {
        var node = new ProtoMessage();
        foreach (var input in inputs) node.String(1, input);
        foreach (var output in outputs) node.String(2, output);
        node.String(3, name).String(4, opType);
        foreach (var attribute in attributes) node.Message(5, Attribute(attribute));
        return node;
    }

    // AttributeProto: name 1, f 2, i 3, s 4, floats 7, ints 8, type 20 (FLOAT 1, INT 2, STRING 3, FLOATS 6, INTS 7).
    private static ProtoMessage Attribute(OnnxAttribute attribute)
    {
        var proto = new ProtoMessage().String(1, attribute.Name);
        return attribute.Value switch
        {
            long i => proto.Int(20, 2).Int(3, i),
            float f => proto.Int(20, 1).Float(2, f),
            string s => proto.Int(20, 3).String(4, s),
            long[] ints => proto.Int(20, 7).Ints(8, ints),
            float[] floats => AddFloats(proto.Int(20, 6), floats),
            _ => throw new ArgumentException($"Attribute '{attribute.Name}' has an unsupported value type {attribute.Value.GetType().Name}."),
        };
    }

    private static ProtoMessage AddFloats(ProtoMessage proto, float[] values)
    {
        foreach (var v in values) proto.Float(7, v);
        return proto;
    }

    // ValueInfoProto { name 1, type 2 { tensor_type 1 { elem_type 1, shape 2 { dim 1 { dim_value 1 | dim_param 2 } } } } }
    private static ProtoMessage ValueInfo(string name, OnnxElementType type, long?[] dims, string dynamicDimName)
    {
        var shape = new ProtoMessage();
        foreach (var dim in dims)
            shape.Message(1, dim is long value ? new ProtoMessage().Int(1, value) : new ProtoMessage().String(2, dynamicDimName));
        var tensorType = new ProtoMessage().Int(1, (long)type).Message(2, shape);
        return new ProtoMessage().String(1, name).Message(2, new ProtoMessage().Message(1, tensorType));
    }

    private static byte[] RawData(OnnxTensor tensor) => tensor.Type switch
    {
        OnnxElementType.Float => MemoryMarshal.AsBytes(Required(tensor.Floats).AsSpan()).ToArray(),
        OnnxElementType.Float16 => MemoryMarshal.AsBytes(Array.ConvertAll(Required(tensor.Floats), f => (Half)f).AsSpan()).ToArray(),
        OnnxElementType.Int64 => MemoryMarshal.AsBytes(Required(tensor.Longs).AsSpan()).ToArray(),
        _ => throw new ArgumentException($"Initializers of type {tensor.Type} are not written by this exporter."),
    };

    private static T[] Required<T>(T[]? values) => values ?? throw new ArgumentException("The tensor has no values of its declared type.");

    private void Reserve(string name)
    {
        if (!_names.Add(name)) throw new ArgumentException($"The ONNX name '{name}' is already used in this graph.");
    }

    private string Unique(string hint)
    {
        string name = hint;
        while (!_names.Add(name)) name = $"{hint}_{++_counter}";
        return name;
    }
}
