using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading.Tasks;
using Microsoft.ML.Clip.Imaging;
using Microsoft.ML.Data;
using Xunit;
using static TorchSharp.torch;

namespace Microsoft.ML.Clip.Tests.Imaging;

public class ClipImagePreprocessorTests
{
    private static readonly ClipImagePreprocessor Small = new(new ImagePreprocessingOptions(32));

    [Fact]
    public void EveryOpaqueLayoutGivesTheSameResult()
    {
        const int w = 57, h = 41;
        var rgb = SyntheticImages.Rgb(w, h);
        var rgba = SyntheticImages.Rgba(w, h, opaque: true);
        var reference = Run(Small, rgb, w, h, w * 3, RawPixelFormat.Rgb24);

        Assert.Equal(reference, Run(Small, SyntheticImages.SwapRedBlue(rgb, 3), w, h, w * 3, RawPixelFormat.Bgr24));
        Assert.Equal(reference, Run(Small, rgba, w, h, w * 4, RawPixelFormat.Rgba32));
        Assert.Equal(reference, Run(Small, rgba, w, h, w * 4, RawPixelFormat.Rgba32Premultiplied));
        Assert.Equal(reference, Run(Small, SyntheticImages.SwapRedBlue(rgba, 4), w, h, w * 4, RawPixelFormat.Bgra32));
        Assert.Equal(reference, Run(Small, SyntheticImages.SwapRedBlue(rgba, 4), w, h, w * 4, RawPixelFormat.Bgra32Premultiplied));

        using var mlRgba = MLImage.CreateFromPixels(w, h, MLPixelFormat.Rgba32, rgba);
        using var mlBgra = MLImage.CreateFromPixels(w, h, MLPixelFormat.Bgra32, SyntheticImages.SwapRedBlue(rgba, 4));
        Assert.Equal(reference, Run(Small, mlRgba));
        Assert.Equal(reference, Run(Small, mlBgra));
    }

    [Fact]
    public void GrayscaleGivesThreeEqualChannelsBeforeNormalization()
    {
        const int w = 70, h = 45;
        var gray = SyntheticImages.Gray(w, h);
        var output = Run(Small, gray, w, h, w, RawPixelFormat.Gray8);
        var mean = Small.Options.Mean;
        var std = Small.Options.Std;
        int plane = 32 * 32;
        for (int i = 0; i < plane; i++)
        {
            // Undo Normalize and ToTensor: every channel must come from the same byte.
            int r = (int)MathF.Round((output[i] * std[0] + mean[0]) * 255);
            int g = (int)MathF.Round((output[plane + i] * std[1] + mean[1]) * 255);
            int b = (int)MathF.Round((output[2 * plane + i] * std[2] + mean[2]) * 255);
            Assert.True(r == g && g == b, $"pixel {i}: {r} {g} {b}");
        }
    }

    [Fact]
    public void OneByOneImageBecomesAConstantSquare()
    {
        var pixel = new byte[] { 10, 200, 99 };
        var output = Run(Small, pixel, 1, 1, 3, RawPixelFormat.Rgb24);
        var table = new NormalizationTable(Small.Options.Mean, Small.Options.Std);
        int plane = 32 * 32;
        for (int c = 0; c < 3; c++)
            for (int i = 0; i < plane; i++)
                Assert.Equal(table[c, pixel[c]], output[c * plane + i]);
    }

    [Fact]
    public void VeryWideImageKeepsItsCentre()
    {
        // 20,000 x 3: torchvision's resize would be 213,333 x 32; only the 32 centre columns are computed.
        const int w = 20_000, h = 3;
        var pixels = new byte[w * h * 3];
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
            {
                // Black left half, white right half: the centre crop straddles the edge.
                byte v = x < w / 2 ? (byte)0 : (byte)255;
                pixels[(y * w + x) * 3] = pixels[(y * w + x) * 3 + 1] = pixels[(y * w + x) * 3 + 2] = v;
            }
        var plan = ResizePlan.Create(w, h, 32, ClipResizeMode.ShortestSideCenterCrop);
        Assert.Equal(213_333, plan.ResizedWidth);
        Assert.Equal(106_650, plan.CropX);

        var output = Run(Small, pixels, w, h, w * 3, RawPixelFormat.Rgb24);
        var table = new NormalizationTable(Small.Options.Mean, Small.Options.Std);
        for (int y = 0; y < 32; y++)
        {
            Assert.Equal(table[0, 0], output[y * 32 + 0]);
            Assert.Equal(table[0, 0], output[y * 32 + 10]);
            Assert.Equal(table[0, 255], output[y * 32 + 22]);
            Assert.Equal(table[0, 255], output[y * 32 + 31]);
        }
    }

    [Fact]
    public void ImageAboveMaxPixelsIsRefusedWithSizeAndLimit()
    {
        var preprocessor = new ClipImagePreprocessor(new ImagePreprocessingOptions(32) { MaxPixels = 5_000 });
        var pixels = SyntheticImages.Rgb(100, 100);
        var ex = Assert.Throws<ImageTooLargeException>(() => Run(preprocessor, pixels, 100, 100, 300, RawPixelFormat.Rgb24));
        Assert.Contains("100x100", ex.Message);
        Assert.Contains(10_000.ToString("N0"), ex.Message);
        Assert.Contains(5_000.ToString("N0"), ex.Message);
        Assert.Contains(nameof(ImagePreprocessingOptions.MaxPixels), ex.Message);
        Assert.Equal((100, 100, 5_000L), (ex.Width, ex.Height, ex.Limit));

        using var image = MLImage.CreateFromPixels(100, 100, MLPixelFormat.Rgba32, SyntheticImages.Rgba(100, 100, opaque: true));
        Assert.Throws<ImageTooLargeException>(() => preprocessor.Preprocess(image));
        using var small = MLImage.CreateFromPixels(50, 50, MLPixelFormat.Rgba32, SyntheticImages.Rgba(50, 50, opaque: true));
        var batchError = Assert.Throws<ImageTooLargeException>(() => preprocessor.Preprocess(new[] { small, image }));
        Assert.Contains("Image 1 of the batch", batchError.Message);
    }

    [Fact]
    public void PixelLimitIsCheckedBeforeTheBuffer()
    {
        // A decompression-bomb header with no pixel data must fail on its size, not on the buffer.
        var ex = Assert.Throws<ImageTooLargeException>(() =>
            Small.PreprocessInto(ReadOnlySpan<byte>.Empty, 100_000, 100_000, 300_000, RawPixelFormat.Rgb24, new float[Small.OutputLength]));
        Assert.Contains("100000x100000", ex.Message);
        Assert.Contains(ImagePreprocessingOptions.DefaultMaxPixels.ToString("N0"), ex.Message);
    }

    [Fact]
    public void DegenerateSquashIsRefusedForItsWorkingMemory()
    {
        // Squashing a 1 x 2,000,000 sliver to 1024² would resample 2 million rows of 1024 bytes first.
        var preprocessor = new ClipImagePreprocessor(new ImagePreprocessingOptions(1024) { ResizeMode = ClipResizeMode.Squash });
        var pixels = new byte[2_000_000];
        var ex = Assert.Throws<ImageTooLargeException>(() =>
            preprocessor.PreprocessInto(pixels, 1, 2_000_000, 1, RawPixelFormat.Gray8, new float[preprocessor.OutputLength]));
        Assert.Contains("1x2000000", ex.Message);
        Assert.Contains("working memory", ex.Message);
    }

    [Fact]
    public void BatchEqualsPerImageResults()
    {
        var sizes = new[] { (64, 64), (200, 120), (9, 300), (1, 1), (31, 33), (500, 17), (32, 32), (45, 80) };
        var images = sizes.Select((s, i) => i % 2 == 0
            ? MLImage.CreateFromPixels(s.Item1, s.Item2, MLPixelFormat.Rgba32, SyntheticImages.Rgba(s.Item1, s.Item2))
            : MLImage.CreateFromPixels(s.Item1, s.Item2, MLPixelFormat.Bgra32, SyntheticImages.Rgba(s.Item1, s.Item2, opaque: true))).ToList();
        try
        {
            foreach (int parallelism in new[] { -1, 1 })
            {
                var preprocessor = new ClipImagePreprocessor(new ImagePreprocessingOptions(32) { MaxDegreeOfParallelism = parallelism });
                using var batch = preprocessor.Preprocess(images);
                Assert.Equal(new long[] { images.Count, 3, 32, 32 }, batch.shape);
                for (int i = 0; i < images.Count; i++)
                {
                    using var single = preprocessor.Preprocess(images[i]);
                    using var row = batch[i];
                    Assert.True(single.data<float>().ToArray().AsSpan().SequenceEqual(row.data<float>().ToArray()),
                        $"image {i} ({sizes[i]}) differs in the batch (parallelism {parallelism})");
                }
            }
        }
        finally
        {
            foreach (var image in images) image.Dispose();
        }
    }

    [Fact]
    public void EmptyBatchGivesAnEmptyTensor()
    {
        using var batch = Small.Preprocess(Array.Empty<MLImage>());
        Assert.Equal(new long[] { 0, 3, 32, 32 }, batch.shape);
    }

    [Fact]
    public void SpanApiEqualsTensorApi()
    {
        using var image = MLImage.CreateFromPixels(123, 77, MLPixelFormat.Bgra32, SyntheticImages.Rgba(123, 77));
        using var tensor = Small.Preprocess(image);
        Assert.Equal(new long[] { 3, 32, 32 }, tensor.shape);
        Assert.Equal(ScalarType.Float32, tensor.dtype);

        // A slice of a larger buffer: only its first OutputLength floats are written.
        var buffer = new float[Small.OutputLength + 10];
        Array.Fill(buffer, float.NaN);
        Small.PreprocessInto(image, buffer);
        Assert.Equal(tensor.data<float>().ToArray(), buffer[..Small.OutputLength]);
        Assert.All(buffer[Small.OutputLength..], v => Assert.True(float.IsNaN(v)));

        // The batch span API lays images out one after another.
        var batchBuffer = new float[2 * Small.OutputLength];
        Small.PreprocessInto(new[] { image, image }, batchBuffer);
        Assert.Equal(buffer[..Small.OutputLength], batchBuffer[..Small.OutputLength]);
        Assert.Equal(buffer[..Small.OutputLength], batchBuffer[Small.OutputLength..]);

        // And the raw-pixel tensor API agrees with the raw span API.
        var rgb = SyntheticImages.Rgb(40, 90);
        using var rawTensor = Small.Preprocess(rgb, 40, 90, 120, RawPixelFormat.Rgb24);
        Assert.Equal(Run(Small, rgb, 40, 90, 120, RawPixelFormat.Rgb24), rawTensor.data<float>().ToArray());
    }

    [Fact]
    public void ConcurrentCallsAgree()
    {
        var pixels = SyntheticImages.Rgba(300, 200);
        var expected = Run(Small, pixels, 300, 200, 1200, RawPixelFormat.Rgba32);
        var results = new float[16][];
        Parallel.For(0, results.Length, i => results[i] = Run(Small, pixels, 300, 200, 1200, RawPixelFormat.Rgba32));
        Assert.All(results, r => Assert.Equal(expected, r));
    }

    [Fact]
    public void RowPaddingIsIgnored()
    {
        const int w = 50, h = 70, stride = w * 3 + 13;
        var packed = SyntheticImages.Rgb(w, h);
        var padded = new byte[stride * (h - 1) + w * 3];
        for (int y = 0; y < h; y++) Array.Copy(packed, y * w * 3, padded, y * stride, w * 3);
        Assert.Equal(Run(Small, packed, w, h, w * 3, RawPixelFormat.Rgb24), Run(Small, padded, w, h, stride, RawPixelFormat.Rgb24));
    }

    [Fact]
    public void SquashKeepsTheWholePicture()
    {
        // Left third red, rest blue: squashing keeps the red band, the shortest-side crop of a wide image cuts it away.
        const int w = 96, h = 32;
        var pixels = new byte[w * h * 3];
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
                pixels[(y * w + x) * 3 + (x < w / 3 ? 0 : 2)] = 255;
        var squash = new ClipImagePreprocessor(new ImagePreprocessingOptions(32) { ResizeMode = ClipResizeMode.Squash });
        var table = new NormalizationTable(Small.Options.Mean, Small.Options.Std);
        Assert.Equal(table[0, 255], Run(squash, pixels, w, h, w * 3, RawPixelFormat.Rgb24)[0]);
        Assert.Equal(table[0, 0], Run(Small, pixels, w, h, w * 3, RawPixelFormat.Rgb24)[0]);
    }

    [Fact]
    public void CustomNormalizationIsApplied()
    {
        var plain = new ClipImagePreprocessor(new ImagePreprocessingOptions(8) { Mean = new[] { 0f, 0f, 0f }, Std = new[] { 1f, 1f, 1f } });
        var output = Run(plain, new byte[] { 0, 51, 255 }, 1, 1, 3, RawPixelFormat.Rgb24);
        Assert.Equal(0f, output[0]);
        Assert.Equal(51 / 255f, output[64]);
        Assert.Equal(1f, output[128]);
    }

    [Fact]
    public void InvalidArgumentsAreRejected()
    {
        var pixels = SyntheticImages.Rgb(10, 10);
        var output = new float[Small.OutputLength];
        Assert.Throws<ArgumentException>(() => Small.PreprocessInto(pixels, 10, 10, 30, RawPixelFormat.Rgb24, new float[Small.OutputLength - 1]));
        Assert.Throws<ArgumentException>(() => Small.PreprocessInto(pixels.AsSpan(1), 10, 10, 30, RawPixelFormat.Rgb24, output));
        Assert.Throws<ArgumentOutOfRangeException>(() => Small.PreprocessInto(pixels, 10, 10, 29, RawPixelFormat.Rgb24, output));
        Assert.Throws<ArgumentOutOfRangeException>(() => Small.PreprocessInto(pixels, 0, 10, 30, RawPixelFormat.Rgb24, output));
        Assert.Throws<ArgumentOutOfRangeException>(() => Small.PreprocessInto(pixels, 10, -1, 30, RawPixelFormat.Rgb24, output));
        Assert.Throws<ArgumentOutOfRangeException>(() => Small.PreprocessInto(pixels, 10, 10, 30, (RawPixelFormat)99, output));
        Assert.Throws<ArgumentNullException>(() => Small.Preprocess((MLImage)null!));
        Assert.Throws<ArgumentException>(() => Small.Preprocess(new MLImage[] { null! }));
        using var image = MLImage.CreateFromPixels(4, 4, MLPixelFormat.Rgba32, new byte[64]);
        Assert.Throws<ArgumentException>(() => Small.PreprocessInto(new[] { image, image }, new float[Small.OutputLength]));
    }

    private static float[] Run(ClipImagePreprocessor preprocessor, byte[] pixels, int width, int height, int stride, RawPixelFormat format)
    {
        var output = new float[preprocessor.OutputLength];
        preprocessor.PreprocessInto(pixels, width, height, stride, format, output);
        return output;
    }

    private static float[] Run(ClipImagePreprocessor preprocessor, MLImage image)
    {
        var output = new float[preprocessor.OutputLength];
        preprocessor.PreprocessInto(image, output);
        return output;
    }
}
