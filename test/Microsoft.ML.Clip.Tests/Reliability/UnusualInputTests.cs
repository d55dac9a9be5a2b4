using System;
using System.Buffers.Binary;
using System.IO;
using System.IO.Compression;
using System.Linq;
using Microsoft.ML;
using Microsoft.ML.Clip.Tests.Pipeline;
using Microsoft.ML.Data;
using Xunit;

namespace Microsoft.ML.Clip.Tests.Reliability;

/// <summary>Unusual but valid inputs score like any other: grayscale, alpha and 16-bit images; odd captions.</summary>
public class UnusualInputTests
{
    private sealed class ImageRow
    {
        public byte[] ImageBytes { get; set; } = [];
    }

    private sealed class TextRow
    {
        public string? Text { get; set; }
    }

    [Trait("Category", "Fixtures")]
    [FixtureFact]
    public void GrayscaleAlphaAnd16BitImagesEmbedLikeTheirRgbEquivalent()
    {
        var trained = ClipStagesTestsAccess.Trained;
        var mlContext = new MLContext(seed: 1);
        var rows = new[]
        {
            TestPng.Solid(40, 30, colourType: 2, bitDepth: 8, value: 128),   // RGB gray 128
            TestPng.Solid(40, 30, colourType: 0, bitDepth: 8, value: 128),   // 8-bit grayscale
            TestPng.Solid(40, 30, colourType: 0, bitDepth: 16, value: 128),  // 16-bit grayscale (0x8080)
            TestPng.Solid(40, 30, colourType: 6, bitDepth: 8, value: 128),   // RGBA, alpha 128
            TestPng.Solid(1, 1, colourType: 2, bitDepth: 8, value: 128),     // 1×1
            TestPng.Solid(40, 30, colourType: 2, bitDepth: 8, value: 127),   // RGB gray 127: one level darker
        }.Select(b => new ImageRow { ImageBytes = b }).ToList();
        var data = mlContext.Data.LoadFromEnumerable(rows);
        var embeddings = mlContext.Transforms.ClipImageEmbedding(trained.Bundle, inputColumnName: "ImageBytes").Fit(data).Transform(data)
            .GetColumn<float[]>("ImageEmbedding").ToArray();
        Assert.All(embeddings, e => Assert.True(e.All(float.IsFinite)));
        // The same gray level whatever the encoding (16-bit rounds to the same 8-bit level): the same embedding up
        // to fp32 rounding, not bit for bit. The rows sit at different positions of one batch, and the GEMM kernels
        // treat rows by blocks (a full block and a remainder take different micro-kernels and summation orders);
        // the 1×1 image is also upscaled by another filter footprint, whose weights sum to 1 only up to rounding.
        // Measured here: 1e-8 (one ulp). Bound: the tower's longest reductions have K = 256 (MLP) and 192 (patch
        // embedding); fp32 rounding grows like 6e-8·√K ≈ 1e-6 relative per layer, over two layers and the
        // projection, on unit-norm components ≤ 1: 1e-5 absolute. It still separates gray levels one step apart
        // (checked below), so a decoder that shifts a level (16-bit truncation, gamma, alpha) fails.
        const double rounding = 1e-5;
        double oneLevel = Approx.MaxDiff(embeddings[0], embeddings[5]);
        Assert.True(oneLevel > 10 * rounding, $"gray 127 and 128 differ by only {oneLevel:E2}: the tolerance could not see a one-level error");
        Approx.Equal(embeddings[0], embeddings[1], rounding, 0, "8-bit grayscale vs RGB");
        Approx.Equal(embeddings[0], embeddings[2], rounding, 0, "16-bit grayscale vs RGB");
        Approx.Equal(embeddings[0], embeddings[4], rounding, 0, "1×1 RGB vs 40×30 RGB");
        // Half-transparent: the colour under alpha is not the same pixel.
        Assert.True(Approx.MaxDiff(embeddings[0], embeddings[3]) > 10 * rounding);
    }

    [Trait("Category", "Fixtures")]
    [FixtureFact]
    public void NullEmptyLongAndNonLatinCaptionsAlwaysTokenize()
    {
        var trained = ClipStagesTestsAccess.Trained;
        var mlContext = new MLContext(seed: 1);
        string[] captions = [null!, "", "   \t ", string.Concat(Enumerable.Repeat("a very long caption ", 500)), "一只红色的猫 😺", "красная кошка"];
        var data = mlContext.Data.LoadFromEnumerable(captions.Select(c => new TextRow { Text = c }));
        var embeddings = mlContext.Transforms.ClipTextEmbedding(trained.Bundle).Fit(data).Transform(data).GetColumn<float[]>("TextEmbedding").ToArray();
        Assert.Equal(captions.Length, embeddings.Length);
        Assert.All(embeddings, e => Assert.Equal(1.0, Math.Sqrt(e.Sum(x => (double)x * x)), 4));
        // Null, empty and whitespace-only captions are all start + end tokens: the same embedding up to fp32
        // rounding. They are rows 0, 1 and 2 of one batch, and a GEMM may give rows of one block different
        // summation orders; the bound is that of GrayscaleAlphaAnd16BitImagesEmbedLikeTheirRgbEquivalent (K ≤ 256,
        // two layers, unit-norm components: 1e-5), far below the distance to any other caption.
        const double rounding = 1e-5;
        Approx.Equal(embeddings[0], embeddings[1], rounding, 0, "empty vs null caption");
        Approx.Equal(embeddings[0], embeddings[2], rounding, 0, "whitespace vs null caption");
        Assert.True(Approx.MaxDiff(embeddings[0], embeddings[4]) > 10 * rounding);
    }

    private sealed class PathRow
    {
        public string ImagePath { get; set; } = "";
    }

    [Trait("Category", "Fixtures")]
    [FixtureFact]
    public void MissingImageFileNamesColumnRowAndFile()
    {
        var trained = ClipStagesTestsAccess.Trained;
        using var temp = new TempDirectory();
        File.WriteAllBytes(temp.File("good.png"), TestPng.Solid(8, 8, colourType: 2, bitDepth: 8, value: 90));
        var mlContext = new MLContext(seed: 1);
        var data = mlContext.Data.LoadFromEnumerable(new[] { new PathRow { ImagePath = "good.png" }, new PathRow { ImagePath = "missing.png" } });
        var pipeline = mlContext.Transforms.LoadRawImageBytes("ImageBytes", temp.Path, "ImagePath")
            .Append(mlContext.Transforms.ClipImageEmbedding(trained.Bundle, inputColumnName: "ImageBytes"));
        var scored = pipeline.Fit(data).Transform(data);
        var error = Assert.Throws<ClipInputException>(() => scored.GetColumn<float[]>("ImageEmbedding").ToArray());
        Assert.Equal("ImageBytes", error.Column);
        Assert.Equal(1, error.Row);
        Assert.Contains("missing.png", error.Message);
    }

    [Trait("Category", "Fixtures")]
    [FixtureFact]
    public void CmykJpegDecodesToItsRgbColours()
    {
        var trained = ClipStagesTestsAccess.Trained;
        var mlContext = new MLContext(seed: 1);
        var cmyk = File.ReadAllBytes(Path.Combine(AppContext.BaseDirectory, "TestData", "cmyk-red-16.jpg"));
        var red = ColourPairs.EncodePng(Enumerable.Range(0, 16 * 16).SelectMany(_ => new byte[] { 255, 0, 0, 255 }).ToArray(), 16, 16);
        var green = ColourPairs.EncodePng(Enumerable.Range(0, 16 * 16).SelectMany(_ => new byte[] { 0, 255, 0, 255 }).ToArray(), 16, 16);
        var data = mlContext.Data.LoadFromEnumerable(new[] { cmyk, red, green }.Select(b => new ImageRow { ImageBytes = b }));
        var e = mlContext.Transforms.ClipImageEmbedding(trained.Bundle, inputColumnName: "ImageBytes").Fit(data).Transform(data)
            .GetColumn<float[]>("ImageEmbedding").ToArray();
        double Cos(float[] a, float[] b) => a.Zip(b).Sum(p => (double)p.First * p.Second);
        // A CMYK red must look like RGB red (not like its inverted or raw-channel misreading).
        Assert.True(Cos(e[0], e[1]) > 0.99, $"CMYK red vs RGB red cosine {Cos(e[0], e[1]):F4}");
        Assert.True(Cos(e[0], e[1]) > Cos(e[0], e[2]) + 0.01);
    }
}
