using System;
using System.Globalization;
using static TorchSharp.torch;

namespace Microsoft.ML.Clip.Modeling.Kernels;

/// <summary>
/// What makes libtorch pick (and oneDNN generate) a convolution kernel: input shape, weight shape, stride, padding
/// and dtype. Convolution path decisions are cached per signature.
/// </summary>
internal readonly record struct ConvSignature(long Batch, long InChannels, long Height, long Width, long OutChannels,
                                            long KernelHeight, long KernelWidth, long StrideHeight, long StrideWidth,
                                            long PadHeight, long PadWidth, ScalarType DType)
{
    /// <summary>The signature of <c>conv2d(input, weight, stride, padding)</c> (groups 1, dilation 1).</summary>
    public static ConvSignature Of(Tensor input, Tensor weight, (long H, long W) stride, (long H, long W) padding)
    {
        if (input.dim() != 4) throw new ArgumentException($"A 2-D convolution needs input [N, C, H, W]; got [{string.Join(", ", input.shape)}].", nameof(input));
        if (weight.dim() != 4) throw new ArgumentException($"A 2-D convolution needs weight [Cout, Cin, kH, kW]; got [{string.Join(", ", weight.shape)}].", nameof(weight));
        if (input.shape[1] != weight.shape[1])
            throw new ArgumentException($"The input has {input.shape[1]} channels; the convolution expects {weight.shape[1]}.", nameof(input));
        var sig = new ConvSignature(input.shape[0], input.shape[1], input.shape[2], input.shape[3], weight.shape[0],
                                    weight.shape[2], weight.shape[3], stride.H, stride.W, padding.H, padding.W, input.dtype);
        if (sig.OutputHeight < 1 || sig.OutputWidth < 1)
            throw new ArgumentException($"The input [{string.Join(", ", input.shape)}] is smaller than the {sig.KernelHeight}×{sig.KernelWidth} kernel (padding {padding.H}, {padding.W}).", nameof(input));
        return sig;
    }

    /// <summary>Output rows.</summary>
    public long OutputHeight => (Height + 2 * PadHeight - KernelHeight) / StrideHeight + 1;

    /// <summary>Output columns.</summary>
    public long OutputWidth => (Width + 2 * PadWidth - KernelWidth) / StrideWidth + 1;

    /// <summary>Multiply-adds times two of the forward pass for one sample.</summary>
    public double ForwardFlopsPerSample => 2.0 * OutChannels * InChannels * KernelHeight * KernelWidth * OutputHeight * OutputWidth;

    /// <summary>The same convolution with another batch size (for a cheaper check).</summary>
    public ConvSignature WithBatch(long batch) => this with { Batch = batch };

    /// <summary>E.g. <c>conv 3→8 k3 s2 p1 on [4,3,32,32] Float32</c>.</summary>
    public override string ToString() => $"conv {Geometry} {DType}";

    /// <summary>The shapes without the dtype, e.g. <c>3→8 k3 s2 p1 on [4,3,32,32]</c>.</summary>
    public string Geometry
    {
        get
        {
            string k = KernelHeight == KernelWidth ? $"k{KernelHeight}" : $"k{KernelHeight}×{KernelWidth}";
            string s = StrideHeight == StrideWidth ? $"s{StrideHeight}" : $"s{StrideHeight}×{StrideWidth}";
            string p = PadHeight == PadWidth ? $"p{PadHeight}" : $"p{PadHeight}×{PadWidth}";
            return string.Create(CultureInfo.InvariantCulture, $"{InChannels}→{OutChannels} {k} {s} {p} on [{Batch},{InChannels},{Height},{Width}]");
        }
    }
}
