using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using Microsoft.ML.Clip.Imaging;
using Microsoft.ML.Data;
using Xunit;
using Xunit.Abstractions;

namespace Microsoft.ML.Clip.Tests.Imaging;

/// <summary>
/// Cases the open_clip fixtures do not cover (transparency, grayscale, 1×1, extreme aspect ratios, squash,
/// crop without resize, the bilinear filter), against Pillow's own output recorded in <see cref="PilReference"/>.
/// </summary>
public sealed class PilParityTests : IDisposable
{
    private readonly ITestOutputHelper _output;
    private readonly string _folder = Directory.CreateTempSubdirectory("clip-imaging-").FullName;

    public PilParityTests(ITestOutputHelper output) => _output = output;

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    public static IEnumerable<object[]> CaseNames() => PilReference.Cases.Select(c => new object[] { c.Name });

    [Theory]
    [MemberData(nameof(CaseNames))]
    public void RawPixelsMatchPillowExactly(string name)
    {
        var c = PilReference.Cases.Single(x => x.Name == name);
        var (pixels, format) = c.Mode switch
        {
            "L" => (SyntheticImages.Gray(c.Width, c.Height), RawPixelFormat.Gray8),
            "RGB" => (SyntheticImages.Rgb(c.Width, c.Height), RawPixelFormat.Rgb24),
            _ => (SyntheticImages.Rgba(c.Width, c.Height), RawPixelFormat.Rgba32),
        };
        var preprocessor = Create(c.Size, c.Squash, c.Filter);
        var actual = new float[preprocessor.OutputLength];
        preprocessor.PreprocessInto(pixels, c.Width, c.Height, c.Width * BytesPerPixel(format), format, actual);

        int mismatches = CountMismatches(actual, Expected(c.Hex, c.Size, preprocessor), out float maxAbs);
        _output.WriteLine($"{name}: {mismatches} values differ from Pillow, max abs {maxAbs:G3}");
        Assert.Equal(0, mismatches);
    }

    [Theory]
    [MemberData(nameof(CaseNames))]
    public void PremultipliedInputGivesTheSameResultWhenResizing(string name)
    {
        var c = PilReference.Cases.Single(x => x.Name == name);
        if (c.Mode != "RGBA") return;
        var preprocessor = Create(c.Size, c.Squash, c.Filter);
        var straight = SyntheticImages.Rgba(c.Width, c.Height);
        var premultiplied = SyntheticImages.SwapRedBlue(SyntheticImages.Premultiply(straight), 4);
        var actual = new float[preprocessor.OutputLength];
        preprocessor.PreprocessInto(premultiplied, c.Width, c.Height, c.Width * 4, RawPixelFormat.Bgra32Premultiplied, actual);

        int mismatches = CountMismatches(actual, Expected(c.Hex, c.Size, preprocessor), out float maxAbs);
        _output.WriteLine($"{name} (premultiplied BGRA): {mismatches} values differ from Pillow, max abs {maxAbs:G3}");
        AssertPremultipliedResult(c, actual, Expected(c.Hex, c.Size, preprocessor), mismatches);
    }

    [Theory]
    [MemberData(nameof(CaseNames))]
    public void DecodedPngMatchesPillow(string name)
    {
        var c = PilReference.Cases.Single(x => x.Name == name);
        if (c.Mode != "RGBA") return;
        var straight = SyntheticImages.Rgba(c.Width, c.Height);
        using var image = SyntheticImages.DecodeAsPng(straight, c.Width, c.Height, _folder);

        // SkiaSharp hands MLImage premultiplied colours, rounded as Pillow rounds them.
        var premultiplied = SyntheticImages.Premultiply(straight);
        var decoded = image.Pixels.ToArray();
        Assert.Equal(image.PixelFormat == MLPixelFormat.Bgra32 ? SyntheticImages.SwapRedBlue(premultiplied, 4) : premultiplied, decoded);

        var preprocessor = Create(c.Size, c.Squash, c.Filter);
        using var tensor = preprocessor.Preprocess(image);
        int mismatches = CountMismatches(tensor.data<float>().ToArray(), Expected(c.Hex, c.Size, preprocessor), out float maxAbs);
        _output.WriteLine($"{name} (PNG via MLImage): {mismatches} values differ from Pillow, max abs {maxAbs:G3}");
        AssertPremultipliedResult(c, tensor.data<float>().ToArray(), Expected(c.Hex, c.Size, preprocessor), mismatches);
    }

    /// <summary>
    /// With a resize, PIL premultiplies first, so premultiplied input must give Pillow's exact bytes. Without one,
    /// PIL keeps the stored straight colours, which premultiplied data holds only approximately: unrecoverable
    /// where alpha is 0 (they come out black), within 255/alpha levels of rounding elsewhere; pixels with alpha of
    /// at least 128 must then be within two 8-bit levels.
    /// </summary>
    private static void AssertPremultipliedResult(
        (string Name, string Mode, int Width, int Height, int Size, bool Squash, string Filter, string Hex) c, float[] actual, float[] expected, int mismatches)
    {
        var plan = ResizePlan.Create(c.Width, c.Height, c.Size, c.Squash ? ClipResizeMode.Squash : ClipResizeMode.ShortestSideCenterCrop);
        if (plan.Resizes)
        {
            Assert.Equal(0, mismatches);
            return;
        }
        float twoLevels = 2f / 255 / 0.26f + 1e-5f;
        int plane = c.Size * c.Size, compared = 0;
        for (int y = 0; y < c.Size; y++)
            for (int x = 0; x < c.Size; x++)
            {
                if (SyntheticImages.Alpha(x + (int)plan.CropX, y + (int)plan.CropY) < 128) continue;
                compared++;
                for (int ch = 0; ch < 3; ch++)
                {
                    int i = ch * plane + y * c.Size + x;
                    Assert.True(Math.Abs(actual[i] - expected[i]) <= twoLevels, $"{c.Name}: pixel ({x}, {y}) channel {ch}: {actual[i]} vs {expected[i]}");
                }
            }
        Assert.True(compared > plane / 4, $"{c.Name}: only {compared} pixels were opaque enough to compare");
    }

    [Fact]
    public void GrayscaleArrivingAsFourChannelsMatchesPillowsLuminanceImage()
    {
        var c = PilReference.Cases.Single(x => x.Name == "gray_downscale");
        var gray = SyntheticImages.Gray(c.Width, c.Height);
        // How a grayscale PNG reaches MLImage: the luminance copied into B, G and R, alpha 255.
        var bgra = new byte[gray.Length * 4];
        for (int i = 0; i < gray.Length; i++)
        {
            bgra[4 * i] = bgra[4 * i + 1] = bgra[4 * i + 2] = gray[i];
            bgra[4 * i + 3] = 255;
        }
        using var image = MLImage.CreateFromPixels(c.Width, c.Height, MLPixelFormat.Bgra32, bgra);
        var preprocessor = Create(c.Size, c.Squash, c.Filter);
        using var tensor = preprocessor.Preprocess(image);
        Assert.Equal(0, CountMismatches(tensor.data<float>().ToArray(), Expected(c.Hex, c.Size, preprocessor), out _));
    }

    private static ClipImagePreprocessor Create(int size, bool squash, string filter) =>
        new(new ImagePreprocessingOptions(size)
        {
            ResizeMode = squash ? ClipResizeMode.Squash : ClipResizeMode.ShortestSideCenterCrop,
            Interpolation = filter == "bilinear" ? ClipInterpolation.Bilinear : ClipInterpolation.Bicubic,
        });

    private static int BytesPerPixel(RawPixelFormat format) => format switch
    {
        RawPixelFormat.Gray8 => 1,
        RawPixelFormat.Rgb24 or RawPixelFormat.Bgr24 => 3,
        _ => 4,
    };

    /// <summary>Pillow's RGB bytes through the same ToTensor/Normalize (float32, torch's order), as CHW.</summary>
    private static float[] Expected(string hex, int size, ClipImagePreprocessor preprocessor)
    {
        var bytes = Convert.FromHexString(hex);
        var mean = preprocessor.Options.Mean;
        var std = preprocessor.Options.Std;
        var result = new float[3 * size * size];
        for (int p = 0; p < size * size; p++)
            for (int c = 0; c < 3; c++)
                result[c * size * size + p] = (bytes[p * 3 + c] / 255f - mean[c]) / std[c];
        return result;
    }

    private static int CountMismatches(float[] actual, float[] expected, out float maxAbs)
    {
        Assert.Equal(expected.Length, actual.Length);
        int count = 0;
        maxAbs = 0;
        for (int i = 0; i < actual.Length; i++)
        {
            float d = Math.Abs(actual[i] - expected[i]);
            if (d > 1e-6f) count++;
            maxAbs = Math.Max(maxAbs, d);
        }
        return count;
    }
}
