using System;
using System.Runtime.Intrinsics.X86;
using Microsoft.ML.Clip.Imaging;
using Xunit;

namespace Microsoft.ML.Clip.Tests.Imaging;

/// <summary>
/// The SIMD passes against a plain scalar statement of PIL's arithmetic. Each machine runs only one dispatch
/// tier through the public API, so the row kernels are also called directly here.
/// </summary>
public unsafe class ResamplerKernelPathTests
{
    [Theory]
    [InlineData(1000, 300L, 10L, 224)]   // downscale: long kernels, odd and even tap counts
    [InlineData(300, 298L, 37L, 224)]    // near 1:1
    [InlineData(20, 64L, 0L, 64)]        // upscale: 4-5 taps
    [InlineData(1, 32L, 0L, 32)]         // single input
    public void HorizontalPathsMatchScalarReference(int width, long outSize, long start, int count)
    {
        var kernel = ResampleKernel.Get(width, outSize, start, count);
        var random = new Random(width);
        var row = new byte[width * 4];
        random.NextBytes(row);
        var expected = Reference(row, 4, kernel);

        var vector128 = new byte[count * 4];
        var viaDispatch = new byte[count * 4];
        fixed (byte* input = row)
        fixed (byte* out128 = vector128)
        fixed (byte* outDispatch = viaDispatch)
        fixed (int* starts = kernel.Starts)
        fixed (int* lengths = kernel.Lengths)
        fixed (int* offsets = kernel.Offsets)
        fixed (int* weights = kernel.Weights)
        fixed (int* laneWeights = kernel.LaneWeights)
        {
            SeparableResampler.HorizontalRow4(input, out128, count, starts, lengths, offsets, weights);
            SeparableResampler.Horizontal(input, row.Length, 1, 4, kernel, outDispatch);
            Assert.Equal(expected, vector128);
            Assert.Equal(expected, viaDispatch);
            if (Avx2.IsSupported)
            {
                var avx2 = new byte[count * 4];
                fixed (byte* outAvx2 = avx2)
                    SeparableResampler.HorizontalRow4Avx2(input, outAvx2, count, starts, lengths, offsets, laneWeights);
                Assert.Equal(expected, avx2);
            }
        }

        foreach (int bpp in new[] { 1, 3 })
        {
            var narrow = new byte[width * bpp];
            random.NextBytes(narrow);
            var result = new byte[count * bpp];
            fixed (byte* input = narrow)
            fixed (byte* output = result)
                SeparableResampler.Horizontal(input, narrow.Length, 1, bpp, kernel, output);
            Assert.Equal(Reference(narrow, bpp, kernel), result);
        }
    }

    [Theory]
    [InlineData(500, 240L, 3L, 224, 57)]   // 57 bytes a row: 32-byte, 16-byte and scalar parts
    [InlineData(40, 100L, 30L, 64, 96)]
    public void VerticalPassMatchesScalarReference(int height, long outSize, long start, int count, int rowBytes)
    {
        var kernel = ResampleKernel.Get(height, outSize, start, count);
        var image = new byte[height * rowBytes];
        new Random(height).NextBytes(image);
        var result = new byte[count * rowBytes];
        int first = kernel.InputStart;
        fixed (byte* input = image)
        fixed (byte* output = result)
            SeparableResampler.Vertical(input + first * rowBytes, rowBytes, first, rowBytes, kernel, output, rowBytes);

        for (int x = 0; x < rowBytes; x++)
        {
            var column = new byte[height];
            for (int y = 0; y < height; y++) column[y] = image[y * rowBytes + x];
            var expected = Reference(column, 1, kernel);
            for (int i = 0; i < count; i++)
                Assert.True(expected[i] == result[i * rowBytes + x], $"row {i}, byte {x}: {result[i * rowBytes + x]} vs {expected[i]}");
        }
    }

    /// <summary>PIL's per-channel sum, written as plainly as possible.</summary>
    private static byte[] Reference(byte[] line, int channels, ResampleKernel kernel)
    {
        var result = new byte[kernel.Count * channels];
        for (int i = 0; i < kernel.Count; i++)
            for (int c = 0; c < channels; c++)
            {
                long sum = 1 << 21;
                for (int t = 0; t < kernel.Lengths[i]; t++)
                    sum += (long)line[(kernel.Starts[i] + t) * channels + c] * kernel.Weights[kernel.Offsets[i] + t];
                result[i * channels + c] = (byte)Math.Clamp(sum >> 22, 0, 255);
            }
        return result;
    }
}
