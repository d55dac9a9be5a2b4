using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using Microsoft.ML.Clip.Imaging;
using Microsoft.ML.Clip.Weights;
using Microsoft.ML.Data;
using Xunit;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace Microsoft.ML.Clip.Tests.Imaging;

/// <summary>
/// Compares the preprocessor with open_clip's eval transform at 64 px: OpenAI CLIP's (shared fixtures, openclip/preprocess)
/// and SigLIP's, read from its <c>preprocess_cfg</c> (family/preprocess-siglip: squash, mean and std 0.5).
/// </summary>
public class OpenClipParityTests
{
    // The bound, in normalized units; one 8-bit step is about 1/255/0.26 ≈ 0.015.
    private const float Tolerance = 0.03f;

    private readonly ITestOutputHelper _output;

    public OpenClipParityTests(ITestOutputHelper output) => _output = output;

    /// <summary>SigLIP's preprocess_cfg as open_clip's hub folders for ViT-B-16-SigLIP carry it.</summary>
    public const string SigLipPreprocessConfig = """{"mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5], "interpolation": "bicubic", "resize_mode": "squash"}""";

    public static IEnumerable<object[]> Cases() =>
        new[] { "img0_64x64", "img1_200x120", "img2_90x300", "img3_37x53", "img4_640x480" }.Select(n => new object[] { n });

    [Trait("Category", "Fixtures")]
    [FixtureTheory]
    [MemberData(nameof(Cases))]
    public void MatchesOpenClipEvalTransform(string name) =>
        AssertMatches(new ImagePreprocessingOptions(64), Fixtures.Path("openclip", "preprocess"), name);

    [Trait("Category", "Fixtures")]
    [FixtureTheory]
    [MemberData(nameof(Cases))]
    public void SigLipPreprocessConfigMatchesOpenClipsSquashTransform(string name)
    {
        var options = ImagePreprocessingOptions.FromOpenClipPreprocessConfig(SigLipPreprocessConfig, imageSize: 64);
        Assert.Equal(ClipResizeMode.Squash, options.ResizeMode);
        AssertMatches(options, Fixtures.Path("family", "preprocess-siglip"), name);
    }

    [Trait("Category", "Fixtures")]
    [FixtureFact]
    public void EverySigLipFixtureImageIsCovered()
    {
        var expected = SafeTensors.Load(Fixtures.Path("family", "preprocess-siglip", "expected.safetensors"));
        try
        {
            Assert.Equal(Cases().Select(c => (string)c[0]).Order(), expected.Keys.Order());
        }
        finally
        {
            foreach (var t in expected.Values) t.Dispose();
        }
    }

    private void AssertMatches(ImagePreprocessingOptions options, string folder, string name)
    {
        var preprocessor = new ClipImagePreprocessor(options);
        var expected = SafeTensors.Load(Path.Combine(folder, "expected.safetensors"));
        try
        {
            using var image = MLImage.CreateFromFile(Path.Combine(folder, name + ".png"));
            using var actual = preprocessor.Preprocess(image);
            var want = expected[name];
            Assert.Equal(new long[] { 3, 64, 64 }, want.shape);
            Assert.Equal(want.shape, actual.shape);
            float maxAbs = (actual - want).abs().max().item<float>();
            _output.WriteLine($"{name}: max |actual - open_clip| = {maxAbs:G3}");
            Assert.True(maxAbs < Tolerance, $"{name}: max abs error {maxAbs} exceeds {Tolerance}");
        }
        finally
        {
            foreach (var t in expected.Values) t.Dispose();
        }
    }

    [Trait("Category", "Fixtures")]
    [FixtureFact]
    public void EveryFixtureImageIsCovered()
    {
        var expected = LoadExpected();
        try
        {
            var pngs = Directory.GetFiles(Fixtures.Path("openclip", "preprocess"), "*.png").Select(Path.GetFileNameWithoutExtension).OrderBy(n => n);
            Assert.Equal(expected.Keys.OrderBy(n => n), pngs);
            Assert.Equal(expected.Keys.OrderBy(n => n), Cases().Select(c => (string)c[0]).OrderBy(n => n));
        }
        finally
        {
            foreach (var t in expected.Values) t.Dispose();
        }
    }

    [Trait("Category", "Fixtures")]
    [FixtureFact]
    public void BatchOfFixtureImagesMatchesOpenClip()
    {
        var preprocessor = new ClipImagePreprocessor(new ImagePreprocessingOptions(64));
        var expected = LoadExpected();
        var names = Cases().Select(c => (string)c[0]).ToList();
        var images = names.Select(n => MLImage.CreateFromFile(Fixtures.Path("openclip", "preprocess", n + ".png"))).ToList();
        try
        {
            using var batch = preprocessor.Preprocess(images);
            Assert.Equal(new long[] { names.Count, 3, 64, 64 }, batch.shape);
            for (int i = 0; i < names.Count; i++)
            {
                using var row = batch[i];
                float maxAbs = (row - expected[names[i]]).abs().max().item<float>();
                Assert.True(maxAbs < Tolerance, $"{names[i]} in a batch: max abs error {maxAbs}");
            }
        }
        finally
        {
            foreach (var image in images) image.Dispose();
            foreach (var t in expected.Values) t.Dispose();
        }
    }

    private static Dictionary<string, Tensor> LoadExpected() =>
        SafeTensors.Load(Fixtures.Path("openclip", "preprocess", "expected.safetensors"));
}
