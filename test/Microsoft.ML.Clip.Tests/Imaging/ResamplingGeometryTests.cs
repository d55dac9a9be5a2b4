using System.Linq;
using Microsoft.ML.Clip.Imaging;
using Xunit;

namespace Microsoft.ML.Clip.Tests.Imaging;

/// <summary>The torchvision geometry and PIL kernel details the parity depends on.</summary>
public class ResamplingGeometryTests
{
    [Theory]
    // width, height, size, resized width, resized height, crop x, crop y
    [InlineData(200, 120, 64, 106, 64, 21, 0)]      // int(64 * 200 / 120) = int(106.67) truncates
    [InlineData(90, 300, 64, 64, 213, 0, 74)]       // (213 - 64) / 2 = 74.5 rounds half to even: 74
    [InlineData(33, 32, 32, 33, 32, 0, 0)]          // 0.5 -> 0
    [InlineData(35, 32, 32, 35, 32, 2, 0)]          // 1.5 -> 2
    [InlineData(37, 32, 32, 37, 32, 2, 0)]          // 2.5 -> 2
    [InlineData(1, 1, 224, 224, 224, 0, 0)]
    [InlineData(640, 480, 224, 298, 224, 37, 0)]
    public void ShortestSideFollowsTorchvision(int w, int h, int size, long rw, long rh, long cx, long cy)
    {
        var plan = ResizePlan.Create(w, h, size, ClipResizeMode.ShortestSideCenterCrop);
        Assert.Equal((rw, rh, cx, cy), (plan.ResizedWidth, plan.ResizedHeight, plan.CropX, plan.CropY));
    }

    [Fact]
    public void SquashResizesBothSidesWithoutCrop()
    {
        var plan = ResizePlan.Create(640, 480, 224, ClipResizeMode.Squash);
        Assert.Equal((224L, 224L, 0L, 0L), (plan.ResizedWidth, plan.ResizedHeight, plan.CropX, plan.CropY));
        Assert.False(ResizePlan.Create(224, 224, 224, ClipResizeMode.Squash).Resizes);
        Assert.False(ResizePlan.Create(224, 500, 224, ClipResizeMode.ShortestSideCenterCrop).Resizes);
    }

    [Fact]
    public void BicubicKernelHasPillowsShape()
    {
        Assert.Equal(1.0, ResampleKernel.Bicubic(0));
        Assert.Equal(0.0, ResampleKernel.Bicubic(1));
        Assert.Equal(0.0, ResampleKernel.Bicubic(-2));
        Assert.Equal(0.5625, ResampleKernel.Bicubic(0.5));    // (1.5·0.5 - 2.5)·0.25 + 1
        Assert.Equal(-0.0625, ResampleKernel.Bicubic(-1.5));  // ((1.5 - 5)·1.5 + 8)·1.5 - 4 = 0.125, times -0.5
    }

    [Theory]
    [InlineData(640, 298L, 37L, 224)]  // antialiased downscale: the kernel widens with the scale
    [InlineData(37, 64L, 0L, 64)]      // upscale
    [InlineData(1, 224L, 0L, 224)]     // a single input pixel
    public void WeightsAreNormalizedFixedPoint(int inSize, long outSize, long start, int count)
    {
        var kernel = ResampleKernel.Get(inSize, outSize, start, count);
        Assert.Equal(count, kernel.Count);
        for (int i = 0; i < count; i++)
        {
            int sum = Enumerable.Range(kernel.Offsets[i], kernel.Lengths[i]).Sum(j => kernel.Weights[j]);
            // Each weight is rounded separately, so the sum can miss 1.0 by a few units in the last place.
            Assert.InRange(sum, (1 << ResampleKernel.PrecisionBits) - kernel.Lengths[i], (1 << ResampleKernel.PrecisionBits) + kernel.Lengths[i]);
            Assert.InRange(kernel.Starts[i], 0, inSize - 1);
            Assert.InRange(kernel.Starts[i] + kernel.Lengths[i], 1, inSize);
        }
        double scale = (double)inSize / outSize;
        if (scale > 1) Assert.True(kernel.Lengths.Max() >= 4 * scale - 1, "a downscale must read about 4x the scale in taps");
        Assert.Same(kernel, ResampleKernel.Get(inSize, outSize, start, count));
    }
}
