using System;
using Microsoft.ML.Clip.Torch;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace Microsoft.ML.Clip.Modeling.Kernels;

/// <summary>
/// Kernel checks of one convolution signature: a path's forward, input gradient and weight gradient against
/// libtorch's float64 convolution (ATen's own kernels: oneDNN and MKL's single-precision code is not involved).
/// </summary>
internal static class ConvKernelCheck
{
    /// <summary>
    /// FLOPs one check may spend: about 0.1–0.3 s on one core, paid once per signature and process.
    /// </summary>
    /// <remarks>
    /// A check runs forward + two backward products (≈ 3 × the forward FLOPs) twice, in the dtype under test and in
    /// float64, whose ATen kernels run a few times slower than fp32 ones. Training shapes (RN50 at batch 256: tens of
    /// GFLOPs per convolution) would make that seconds per signature, so the batch is cut to fit this budget. Every
    /// other dimension stays real, because oneDNN generates its kernels from them (channels, spatial size, kernel,
    /// stride, padding, dtype).
    /// </remarks>
    public const double FlopBudget = 2e9;

    /// <summary>
    /// The batch a check of <paramref name="signature"/> uses: the real one when it fits <see cref="FlopBudget"/>,
    /// otherwise the largest that does, but at least 2 (when the real one is): libtorch sends single-sample fp32
    /// convolutions with small kernels to its own ATen kernel instead of oneDNN, so a batch of 1 would check the
    /// wrong code.
    /// </summary>
    public static long CheckBatch(ConvSignature signature)
    {
        double perSample = 6 * signature.ForwardFlopsPerSample;
        long fits = (long)Math.Floor(FlopBudget / Math.Max(perSample, 1));
        return Math.Min(signature.Batch, Math.Max(fits, 2));
    }

    /// <summary>Checks <paramref name="path"/> for <paramref name="signature"/> (batch cut by <see cref="CheckBatch"/>).</summary>
    public static KernelCheckResult Run(ConvSignature signature, ConvPath path, ulong seed = 20261201) =>
        KernelCheck.Run(Probe(signature.WithBatch(CheckBatch(signature)), path), signature.DType, seed);

    /// <summary>The probe of one path at exactly <paramref name="signature"/> (no batch cut).</summary>
    public static KernelProbe Probe(ConvSignature signature, ConvPath path)
    {
        var s = signature;
        (long, long) stride = (s.StrideHeight, s.StrideWidth), padding = (s.PadHeight, s.PadWidth);
        long taps = s.KernelHeight * s.KernelWidth;
        var inputs = new[]
        {
            // An input pixel receives at most Cout·kH·kW products (fewer with stride > 1).
            new KernelInput("input", [s.Batch, s.InChannels, s.Height, s.Width], s.OutChannels * taps),
            // Each weight sums over every sample and output position. Kaiming-like scale keeps outputs O(1).
            new KernelInput("weight", [s.OutChannels, s.InChannels, s.KernelHeight, s.KernelWidth], s.Batch * s.OutputHeight * s.OutputWidth,
                            g => ScalarSafe.Mul(randn([s.OutChannels, s.InChannels, s.KernelHeight, s.KernelWidth], ScalarType.Float64, generator: g),
                                                1 / Math.Sqrt(s.InChannels * taps))),
        };
        Func<Tensor[], Tensor> compute = path switch
        {
            ConvPath.Native => x => NativeConv(x[0], x[1], stride, padding),
            ConvPath.Im2Col => x => Im2ColConvolution.Forward(x[0], x[1], null, stride, padding),
            _ => throw new ArgumentOutOfRangeException(nameof(path), path, null),
        };
        string name = $"conv2d[{Describe(path)}] {s.Geometry}";
        return new KernelProbe(name, inputs, compute, s.InChannels * taps, reference: x => NativeConv(x[0], x[1], stride, padding));
    }

    /// <summary>A short name of a path for reports: <c>onednn</c> or <c>im2col</c>.</summary>
    public static string Describe(ConvPath path) => path == ConvPath.Native ? "onednn" : "im2col";

    internal static Tensor NativeConv(Tensor input, Tensor weight, (long H, long W) stride, (long H, long W) padding) =>
        F.conv2d(input, weight, null, strides: [stride.H, stride.W], padding: [padding.H, padding.W]);
}
