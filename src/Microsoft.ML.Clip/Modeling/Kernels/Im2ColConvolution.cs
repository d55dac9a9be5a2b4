using System;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace Microsoft.ML.Clip.Modeling.Kernels;

/// <summary>
/// A 2-D convolution (groups 1, dilation 1) without a convolution kernel: im2col by <c>unfold</c>, one matrix
/// product, reshape. Autograd's backward is two matrix products and ATen's col2im (<c>fold</c>), so nothing goes
/// through oneDNN's convolution code — the fallback when that code is found wrong on a CPU.
/// </summary>
/// <remarks>
/// <para>All samples form one matrix [N·L, C·kH·kW] (L output positions per sample), so the weight gradient is a
/// single product that sums over batch and positions in the matrix kernel's fp32 accumulator; a batched product
/// would leave the sum over the batch to a separate reduction in the low-precision dtype.</para>
/// <para>bf16: <c>unfold</c> runs on an fp32 copy of the input and the columns are rounded to bf16 after it.
/// Rounding is exact there (the values were bf16 already), and in backward it makes col2im — which adds up the
/// k² overlapping contributions to each input pixel — sum in fp32 instead of bf16, then round once.</para>
/// <para>Memory: the column matrix holds kH·kW copies of the input (for stride 1), several times the native
/// kernel's workspace. It is only used for signatures whose native kernel failed its check, or when forced.</para>
/// </remarks>
internal static class Im2ColConvolution
{
    /// <summary>The convolution of <paramref name="input"/> [N, C, H, W] with <paramref name="weight"/> [Cout, C, kH, kW].</summary>
    public static Tensor Forward(Tensor input, Tensor weight, Tensor? bias, (long H, long W) stride, (long H, long W) padding)
    {
        ArgumentNullException.ThrowIfNull(input);
        ArgumentNullException.ThrowIfNull(weight);
        if (input.dtype != weight.dtype)
            throw new ArgumentException($"Convolution input ({input.dtype}) and weight ({weight.dtype}) must have the same dtype.", nameof(input));
        var sig = ConvSignature.Of(input, weight, stride, padding);

        using var scope = NewDisposeScope();
        bool widen = input.dtype is ScalarType.BFloat16 or ScalarType.Float16;
        var source = widen ? input.to(ScalarType.Float32) : input;
        var columns = F.unfold(source, (sig.KernelHeight, sig.KernelWidth), padding: padding, stride: stride); // [N, K, L]
        if (widen) columns = columns.to(input.dtype);
        long n = sig.Batch, k = columns.shape[1], positions = columns.shape[2];
        var matrix = columns.transpose(1, 2).reshape(n * positions, k);                                          // [N·L, K]
        var product = F.linear(matrix, weight.reshape(sig.OutChannels, k), bias);                                // [N·L, Cout]
        var output = product.view(n, sig.OutputHeight, sig.OutputWidth, sig.OutChannels).permute(0, 3, 1, 2).contiguous();
        return output.MoveToOuterDisposeScope();
    }
}
