using System;
using Microsoft.ML.Clip.Imaging;
using Xunit;

namespace Microsoft.ML.Clip.Tests.Imaging;

public class ImagePreprocessingOptionsTests
{
    [Fact]
    public void DefaultsAreOpenAIClipAt224()
    {
        var options = new ImagePreprocessingOptions();
        Assert.Equal(224, options.ImageSize);
        Assert.Equal(ClipResizeMode.ShortestSideCenterCrop, options.ResizeMode);
        Assert.Equal(new[] { 0.48145466f, 0.4578275f, 0.40821073f }, options.Mean);
        Assert.Equal(new[] { 0.26862954f, 0.26130258f, 0.27577711f }, options.Std);
        Assert.Equal(89_478_485, options.MaxPixels);
        Assert.Equal(-1, options.MaxDegreeOfParallelism);
        options.Validate();
        Assert.Equal(3 * 224 * 224, new ClipImagePreprocessor().OutputLength);
    }

    [Fact]
    public void MeanAndStdAreCopied()
    {
        var mean = new[] { 0.5f, 0.5f, 0.5f };
        var options = new ImagePreprocessingOptions(64) { Mean = mean };
        mean[0] = 9f;
        Assert.Equal(0.5f, options.Mean[0]);
    }

    [Theory]
    [InlineData(0, "ImageSize")]
    [InlineData(16_385, "ImageSize")]
    public void ImageSizeOutOfRangeIsRejected(int size, string parameter)
    {
        var ex = Assert.ThrowsAny<ArgumentException>(() => new ClipImagePreprocessor(new ImagePreprocessingOptions(size)));
        Assert.Equal(parameter, ex.ParamName);
    }

    [Fact]
    public void InvalidSettingsAreNamed()
    {
        Assert.Equal("Mean", Assert.ThrowsAny<ArgumentException>(() => new ImagePreprocessingOptions { Mean = new[] { 0f, 0f } }.Validate()).ParamName);
        Assert.Equal("Mean", Assert.ThrowsAny<ArgumentException>(() => new ImagePreprocessingOptions { Mean = new[] { 0f, float.NaN, 0f } }.Validate()).ParamName);
        var std = Assert.ThrowsAny<ArgumentException>(() => new ImagePreprocessingOptions { Std = new[] { 1f, 0f, 1f } }.Validate());
        Assert.Equal("Std", std.ParamName);
        Assert.Contains("Std[1]", std.Message);
        Assert.Equal("MaxPixels", Assert.ThrowsAny<ArgumentException>(() => new ImagePreprocessingOptions { MaxPixels = 0 }.Validate()).ParamName);
        Assert.Equal("ResizeMode", Assert.ThrowsAny<ArgumentException>(() => new ImagePreprocessingOptions { ResizeMode = (ClipResizeMode)7 }.Validate()).ParamName);
        Assert.Equal("MaxDegreeOfParallelism", Assert.ThrowsAny<ArgumentException>(() => new ImagePreprocessingOptions { MaxDegreeOfParallelism = 0 }.Validate()).ParamName);
        Assert.Throws<ArgumentNullException>(() => new ImagePreprocessingOptions { Std = null! });
    }
}
