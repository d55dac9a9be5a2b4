using System.IO;
using Microsoft.ML.Clip.Imaging;
using Xunit;

namespace Microsoft.ML.Clip.Tests.Imaging;

/// <summary>ImagePreprocessingOptions.FromOpenClipPreprocessConfig: open_clip's preprocess_cfg, what it implements and what it refuses.</summary>
public class OpenClipPreprocessConfigTests
{
    [Fact]
    public void SigLipsConfigGivesSquashAndHalfMeanAndStd()
    {
        var options = ImagePreprocessingOptions.FromOpenClipPreprocessConfig(OpenClipParityTests.SigLipPreprocessConfig, imageSize: 224);
        Assert.Equal((224, ClipResizeMode.Squash), (options.ImageSize, options.ResizeMode));
        Assert.Equal([0.5f, 0.5f, 0.5f], options.Mean);
        Assert.Equal([0.5f, 0.5f, 0.5f], options.Std);
    }

    [Fact]
    public void AbsentFieldsTakeOpenClipsDefaults()
    {
        var options = ImagePreprocessingOptions.FromOpenClipPreprocessConfig("""{"size": 336, "resize_mode": null}""");
        Assert.Equal((336, ClipResizeMode.ShortestSideCenterCrop), (options.ImageSize, options.ResizeMode));
        Assert.Equal(ImagePreprocessingOptions.OpenAIClipMean, options.Mean);
        Assert.Equal(ImagePreprocessingOptions.OpenAIClipStd, options.Std);
    }

    [Fact]
    public void TheModelsImageSizeWinsAndOneNumberServesEveryChannel()
    {
        // open_clip's create_model overrides size with the vision tower's; a scalar mean is (mean,) * 3.
        var options = ImagePreprocessingOptions.FromOpenClipPreprocessConfig(
            """{"size": [384, 384], "mode": "RGB", "mean": 0.25, "std": [0.1, 0.2, 0.3], "interpolation": "random", "fill_color": 0}""", imageSize: 256);
        Assert.Equal(256, options.ImageSize);
        Assert.Equal([0.25f, 0.25f, 0.25f], options.Mean);
        Assert.Equal([0.1f, 0.2f, 0.3f], options.Std);
        Assert.Equal(384, ImagePreprocessingOptions.FromOpenClipPreprocessConfig("""{"size": [384, 384]}""").ImageSize);
    }

    [Fact]
    public void BilinearIsReadForClipaAndMobileClip()
    {
        // open_clip's MobileCLIP pretrained config: mean 0, std 1, bilinear, shortest.
        var options = ImagePreprocessingOptions.FromOpenClipPreprocessConfig(
            """{"mean": [0.0, 0.0, 0.0], "std": [1.0, 1.0, 1.0], "interpolation": "bilinear", "resize_mode": "shortest"}""", imageSize: 256);
        Assert.Equal((ClipInterpolation.Bilinear, ClipResizeMode.ShortestSideCenterCrop), (options.Interpolation, options.ResizeMode));
        Assert.Equal(ClipInterpolation.Bicubic, ImagePreprocessingOptions.FromOpenClipPreprocessConfig("""{"interpolation": "random"}""", 224).Interpolation);
    }

    [Theory]
    [InlineData("""{"interpolation": "lanczos"}""", "preprocess_cfg.interpolation is 'lanczos'")]
    [InlineData("""{"resize_mode": "longest", "fill_color": 128}""", "preprocess_cfg.resize_mode is 'longest'")]
    [InlineData("""{"resize_mode": 1}""", "preprocess_cfg.resize_mode must be a string")]
    [InlineData("""{"mode": "L"}""", "preprocess_cfg.mode is 'L'")]
    [InlineData("""{"mean": [0.5, 0.5]}""", "preprocess_cfg.mean must be three numbers")]
    [InlineData("""{"std": [0.5, 0, 0.5]}""", "Std[1] is 0")]
    [InlineData("""{"fill_color": "white"}""", "preprocess_cfg.fill_color must be a number")]
    [InlineData("""{"crop_pct": 0.9}""", "preprocess_cfg.crop_pct is not a field of open_clip's PreprocessCfg")]
    [InlineData("""[1]""", "preprocess_cfg must be a JSON object")]
    [InlineData("""{"mean": """, "preprocess_cfg is not valid JSON")]
    public void WhatIsNotImplementedIsRefusedByFieldName(string json, string message)
    {
        var error = Assert.Throws<InvalidDataException>(() => ImagePreprocessingOptions.FromOpenClipPreprocessConfig(json, imageSize: 224));
        Assert.Contains(message, error.Message);
    }

    [Theory]
    [InlineData("""{"size": [224, 256]}""", "not square")]
    [InlineData("""{}""", "preprocess_cfg has no size")]
    [InlineData("""{"size": 0}""", "preprocess_cfg.size is 0")]
    [InlineData("""{"size": "224"}""", "preprocess_cfg.size must be an integer or [height, width]")]
    public void TheConfigsSizeIsCheckedWhenNoImageSizeIsGiven(string json, string message)
    {
        var error = Assert.Throws<InvalidDataException>(() => ImagePreprocessingOptions.FromOpenClipPreprocessConfig(json));
        Assert.Contains(message, error.Message);
    }
}
