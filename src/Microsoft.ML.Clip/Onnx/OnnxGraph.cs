using System;
using System.Collections.Generic;
using System.Linq;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Microsoft.ML.Clip.Onnx;

/// <summary>
/// The graph-builder the tower parts emit through (each module's <c>EmitOnnx</c>): constants from TorchSharp
/// tensors and the handful of operations CLIP needs, in forms valid for the sink's opset (11 and up) and in the
/// graph's compute precision. In a half-precision graph the weights are fp16 while layer norms, softmaxes and the
/// final L2 normalisation compute in fp32 (their inputs are cast up and the results cast back), as open_clip's
/// <c>LayerNormFp32</c> does: their sums of squares and exponentials are what fp16 cannot hold.
/// </summary>
internal sealed class OnnxGraph
{
    private const long CastToFloat = (long)OnnxElementType.Float, CastToHalf = (long)OnnxElementType.Float16;

    public OnnxGraph(IOnnxGraphSink sink, bool half = false)
    {
        Sink = sink ?? throw new ArgumentNullException(nameof(sink));
        if (sink.Opset < 11) throw new ArgumentException($"The exported graphs need ONNX opset 11 or later; the target is opset {sink.Opset}.");
        Half = half;
    }

    public IOnnxGraphSink Sink { get; }

    /// <summary>Weights and activations in fp16 (else fp32).</summary>
    public bool Half { get; }

    private OnnxElementType ComputeType => Half ? OnnxElementType.Float16 : OnnxElementType.Float;

    // ---- constants ----

    /// <summary>A weight in the compute precision.</summary>
    public string Weight(Tensor tensor, string name) => Sink.AddInitializer(name, new OnnxTensor(ComputeType, tensor.shape, Floats(tensor)));

    /// <summary>A weight stored transposed (a Linear layer's [out, in] weight becomes the [in, out] right factor of MatMul).</summary>
    public string WeightTransposed(Tensor tensor, string name)
    {
        using var t = tensor.detach().t();
        return Weight(t, name);
    }

    /// <summary>A constant that stays fp32 in every precision (layer-norm parameters, attention masks).</summary>
    public string Float32(Tensor tensor, string name) => Sink.AddInitializer(name, new OnnxTensor(OnnxElementType.Float, tensor.shape, Floats(tensor)));

    /// <summary>A scalar in the compute precision.</summary>
    public string Scalar(double value, string name) => Sink.AddInitializer(name, new OnnxTensor(ComputeType, [], [(float)value]));

    /// <summary>A 1-D int64 constant (shapes, axes, indices).</summary>
    public string Int64s(string name, params long[] values) => Sink.AddInitializer(name, OnnxTensor.Int64([values.Length], values));

    private static float[] Floats(Tensor tensor)
    {
        using var cpu = tensor.detach().to(ScalarType.Float32).cpu().contiguous();
        return cpu.data<float>().ToArray();
    }

    // ---- operations ----

    public string Op(string opType, string name, string[] inputs, params OnnxAttribute[] attributes) =>
        Sink.AddNode(opType, inputs, 1, name, attributes)[0];

    public string Add(string a, string b, string name) => Op("Add", name, [a, b]);

    public string Mul(string a, string b, string name) => Op("Mul", name, [a, b]);

    public string MatMul(string a, string b, string name) => Op("MatMul", name, [a, b]);

    public string Transpose(string x, string name, params long[] perm) => Op("Transpose", name, [x], new OnnxAttribute("perm", perm));

    /// <summary>Reshape; 0 copies the input's dimension, −1 is inferred.</summary>
    public string Reshape(string x, string name, params long[] shape) => Op("Reshape", name, [x, Int64s(name + "_shape", shape)]);

    /// <summary>Elements <paramref name="start"/> … <paramref name="end"/>−1 of <paramref name="axis"/>.</summary>
    public string Slice(string x, long axis, long start, long end, string name) =>
        Op("Slice", name, [x, Int64s(name + "_starts", start), Int64s(name + "_ends", end), Int64s(name + "_axes", axis)]);

    /// <summary>Index <paramref name="index"/> of <paramref name="axis"/>, which disappears from the shape.</summary>
    public string Select(string x, long axis, long index, string name) =>
        Op("Gather", name, [x, Sink.AddInitializer(name + "_index", OnnxTensor.Int64([], index))], new OnnxAttribute("axis", axis));

    public string Cast(string x, OnnxElementType to, string name) => Op("Cast", name, [x], new OnnxAttribute("to", (long)to));

    /// <summary>x·Wᵀ + b of a TorchSharp Linear layer.</summary>
    public string Linear(string x, Linear layer, string name)
    {
        var y = MatMul(x, WeightTransposed(layer.weight!, name + "_weight"), name + "_matmul");
        return layer.bias is { } bias ? Add(y, Weight(bias, name + "_bias"), name) : y;
    }

    /// <summary>A 2-D convolution (square or not) with optional bias.</summary>
    public string Conv(string x, Tensor weight, Tensor? bias, (long H, long W) stride, (long H, long W) padding, string name)
    {
        var inputs = new List<string> { x, Weight(weight, name + "_weight") };
        if (bias is not null) inputs.Add(Weight(bias, name + "_bias"));
        return Op("Conv", name, inputs.ToArray(), new("kernel_shape", new[] { weight.shape[2], weight.shape[3] }),
            new("strides", new[] { stride.H, stride.W }), new("pads", new[] { padding.H, padding.W, padding.H, padding.W }));
    }

    /// <summary>Eval-mode batch normalisation with the running statistics.</summary>
    public string BatchNorm(string x, BatchNorm2d norm, string name) =>
        Op("BatchNormalization", name, [x, Weight(norm.weight!, name + "_weight"), Weight(norm.bias!, name + "_bias"),
            Weight(norm.running_mean!, name + "_running_mean"), Weight(norm.running_var!, name + "_running_var")],
            new OnnxAttribute("epsilon", (float)norm.eps));

    /// <summary>Average pooling with a square window equal to its stride (no padding), as <c>AvgPool2d(k)</c>.</summary>
    public string AveragePool(string x, long size, string name) =>
        Op("AveragePool", name, [x], new("kernel_shape", new[] { size, size }), new("strides", new[] { size, size }));

    public string Relu(string x, string name) => Op("Relu", name, [x]);

    /// <summary>Cast from the compute precision to fp32 (nothing in an fp32 graph).</summary>
    public string ToFloat32(string x, string name) => Half ? Cast(x, OnnxElementType.Float, name + "_fp32") : x;

    /// <summary>Cast from fp32 to the compute precision (nothing in an fp32 graph).</summary>
    public string FromFloat32(string x, string name) => Half ? Cast(x, OnnxElementType.Float16, name + "_fp16") : x;

    /// <summary>Softmax over the last axis computed in fp32, after adding the optional fp32 additive mask.</summary>
    public string Softmax(string scores, string name, string? additiveMask = null)
    {
        var x = ToFloat32(scores, name + "_in");
        if (additiveMask is not null) x = Add(x, additiveMask, name + "_masked");
        // axis −1: the same in the opset-11 form (rows of a 2-D view) and the opset-13 form (one axis).
        return FromFloat32(Op("Softmax", name, [x], new OnnxAttribute("axis", -1L)), name);
    }

    /// <summary>
    /// [N, L, H·Dh] → [N, H, L, Dh], or [N, H, Dh, L] with <paramref name="keys"/> (the right factor of q·kᵀ).
    /// </summary>
    public string SplitHeads(string x, long heads, long headWidth, string name, bool keys = false) =>
        Transpose(Reshape(x, name + "_heads", 0, 0, heads, headWidth), name + "_t", keys ? [0, 2, 3, 1] : [0, 2, 1, 3]);

    /// <summary>
    /// Part <paramref name="index"/> of a packed projection (q, k, v stacked in a [parts·width, width] weight and its
    /// bias, as <c>nn.MultiheadAttention</c>'s <c>in_proj</c> and timm's <c>qkv</c> / <c>kv</c>) applied to
    /// <paramref name="x"/>, split into heads (<see cref="SplitHeads"/>).
    /// </summary>
    public string PackedHeads(string x, Tensor weight, Tensor bias, int index, long heads, string name, bool keys = false)
    {
        long width = weight.shape[1];
        using var w = weight.detach().narrow(0, index * width, width);
        using var b = bias.detach().narrow(0, index * width, width);
        var projected = Add(MatMul(x, WeightTransposed(w, name + "_weight"), name + "_matmul"), Weight(b, name + "_bias"), name);
        return SplitHeads(projected, heads, width / heads, name, keys);
    }

    /// <summary>
    /// softmax(q·scale · kᵀ + mask)·v merged back to [N, Lq, H·Dh], in the order of the explicit TorchSharp form
    /// (q is scaled before the product; the softmax computes in fp32).
    /// </summary>
    /// <param name="q">Queries [N, H, Lq, Dh].</param>
    /// <param name="kTransposed">Keys [N, H, Dh, Lk] (<see cref="SplitHeads"/> with keys).</param>
    /// <param name="v">Values [N, H, Lk, Dh].</param>
    /// <param name="scale">1/√Dh.</param>
    /// <param name="width">H·Dh.</param>
    /// <param name="name">Prefix of the emitted names.</param>
    /// <param name="mask">An fp32 additive mask [Lq, Lk], or null.</param>
    public string Attention(string q, string kTransposed, string v, double scale, long width, string name, string? mask = null)
    {
        var scaled = Mul(q, Scalar(scale, name + "_scale"), name + "_q_scaled");
        var weights = Softmax(MatMul(scaled, kTransposed, name + "_scores"), name + "_softmax", mask);
        var context = Transpose(MatMul(weights, v, name + "_context"), name + "_context_t", 0, 2, 1, 3);
        return Reshape(context, name + "_context_merged", 0, 0, width);
    }

    /// <summary>
    /// Layer normalisation over the last axis in fp32 (the fused LayerNormalization op from opset 17, else its
    /// decomposition, which ONNX Runtime fuses back).
    /// </summary>
    public string LayerNorm(string x, Tensor weight, Tensor bias, double eps, string name)
    {
        var input = ToFloat32(x, name + "_in");
        string w = Float32(weight, name + "_weight"), b = Float32(bias, name + "_bias");
        string y = Sink.Opset >= 17
            ? Op("LayerNormalization", name, [input, w, b], new("axis", -1L), new("epsilon", (float)eps))
            : DecomposedLayerNorm(input, w, b, eps, name);
        return FromFloat32(y, name);
    }

    private string DecomposedLayerNorm(string x, string weight, string bias, double eps, string name)
    {
        var mean = ReduceMean(x, name + "_mean");
        var centred = Op("Sub", name + "_centred", [x, mean]);
        var two = Sink.AddInitializer(name + "_two", new OnnxTensor(OnnxElementType.Float, [], [2f]));
        var variance = ReduceMean(Op("Pow", name + "_square", [centred, two]), name + "_variance");
        var epsilon = Sink.AddInitializer(name + "_eps", new OnnxTensor(OnnxElementType.Float, [], [(float)eps]));
        var std = Op("Sqrt", name + "_std", [Add(variance, epsilon, name + "_var_eps")]);
        var normalised = Op("Div", name + "_normalised", [centred, std]);
        return Add(Mul(normalised, weight, name + "_scaled"), bias, name);
    }

    /// <summary>Mean over the last axis, keeping it (axes as an attribute: valid up to opset 17).</summary>
    public string ReduceMean(string x, string name, long axis = -1) =>
        Op("ReduceMean", name, [x], new("axes", new[] { axis }), new("keepdims", 1L));

    /// <summary>Exact (erf) GELU, 0.5·x·(1 + erf(x/√2)), the form ONNX Runtime fuses into its Gelu kernel.</summary>
    public string Gelu(string x, string name)
    {
        var scaled = Op("Div", name + "_scaled", [x, Scalar(Math.Sqrt(2.0), name + "_sqrt2")]);
        var erf = Op("Erf", name + "_erf", [scaled]);
        var gate = Add(erf, Scalar(1.0, name + "_one"), name + "_gate");
        return Mul(Mul(x, gate, name + "_gated"), Scalar(0.5, name + "_half"), name);
    }

    /// <summary>GELU with the tanh approximation, 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))), as torch's <c>approximate="tanh"</c>.</summary>
    public string GeluTanh(string x, string name)
    {
        var cube = Mul(Mul(x, x, name + "_square"), x, name + "_cube");
        var inner = Add(x, Mul(cube, Scalar(0.044715, name + "_coefficient"), name + "_cubic"), name + "_inner");
        var tanh = Op("Tanh", name + "_tanh", [Mul(inner, Scalar(Math.Sqrt(2.0 / Math.PI), name + "_sqrt_2_pi"), name + "_scaled")]);
        var gate = Add(tanh, Scalar(1.0, name + "_one"), name + "_gate");
        return Mul(Mul(x, gate, name + "_gated"), Scalar(0.5, name + "_half"), name);
    }

    /// <summary>x / max(‖x‖₂, 1e-12) over the last axis in fp32 (torch's F.normalize); the result is fp32.</summary>
    public string L2Normalize(string x, string name)
    {
        var input = ToFloat32(x, name + "_in");
        var norm = Op("ReduceL2", name + "_norm", [input], new("axes", new[] { -1L }), new("keepdims", 1L));
        var floor = Sink.AddInitializer(name + "_eps", new OnnxTensor(OnnxElementType.Float, [], [1e-12f]));
        return Op("Div", name, [input, Op("Max", name + "_clamped", [norm, floor])]);
    }

    /// <summary>
    /// <paramref name="token"/> [1, 1, W] repeated for every row of <paramref name="like"/> [N, ·, W]: [N, 1, W].
    /// </summary>
    public string ExpandToBatch(string token, string like, long width, string name)
    {
        var shape = Op("Shape", name + "_input_shape", [like]);
        var batch = Op("Gather", name + "_batch", [shape, Int64s(name + "_batch_index", 0)], new OnnxAttribute("axis", 0L));
        var target = Op("Concat", name + "_shape", [batch, Int64s(name + "_rest", 1, width)], new OnnxAttribute("axis", 0L));
        return Op("Expand", name, [token, target]);
    }
}
