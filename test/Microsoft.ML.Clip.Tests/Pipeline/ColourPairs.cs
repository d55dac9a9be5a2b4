using System;
using System.Collections.Generic;
using System.Linq;
using Microsoft.ML;
using Microsoft.ML.Data;

namespace Microsoft.ML.Clip.Tests.Pipeline;

/// <summary>
/// A tiny learnable image–caption set for pipeline tests: solid-colour images with a lighter square of the
/// same hue, captioned with the colour name. Encoded as PNG bytes (the LoadRawImageBytes path) or as MLImage.
/// </summary>
public static class ColourPairs
{
    public static readonly (string Name, byte R, byte G, byte B)[] Colours =
    [
        ("red", 220, 30, 30), ("green", 30, 200, 40), ("blue", 30, 40, 220), ("yellow", 230, 220, 30),
    ];

    public sealed class Row
    {
        public byte[] ImageBytes { get; set; } = [];
        public string Text { get; set; } = "";
        public string Label { get; set; } = "";
    }

    public static IEnumerable<Row> Rows(int count, int seed = 0, int size = 32)
    {
        var random = new Random(seed);
        for (int i = 0; i < count; i++)
        {
            var (name, r, g, b) = Colours[i % Colours.Length];
            var pixels = new byte[size * size * 4];
            int offset = random.Next(0, size / 2);
            for (int y = 0; y < size; y++)
            for (int x = 0; x < size; x++)
            {
                bool square = x >= offset && x < offset + size / 2 && y >= offset && y < offset + size / 2;
                int p = (y * size + x) * 4;
                int noise = random.Next(-20, 21);
                pixels[p] = Clamp(r + noise + (square ? 30 : 0));
                pixels[p + 1] = Clamp(g + noise + (square ? 30 : 0));
                pixels[p + 2] = Clamp(b + noise + (square ? 30 : 0));
                pixels[p + 3] = 255;
            }
            yield return new Row { ImageBytes = EncodePng(pixels, size, size), Text = $"a {name} picture", Label = name };
        }
    }

    /// <summary>PNG-encodes straight RGBA pixels.</summary>
    public static byte[] EncodePng(byte[] rgba, int width, int height)
    {
        var info = new SkiaSharp.SKImageInfo(width, height, SkiaSharp.SKColorType.Rgba8888, SkiaSharp.SKAlphaType.Unpremul);
        using var image = SkiaSharp.SKImage.FromPixelCopy(info, rgba);
        using var data = image.Encode(SkiaSharp.SKEncodedImageFormat.Png, 100);
        return data.ToArray();
    }

    private static byte Clamp(int v) => (byte)Math.Clamp(v, 0, 255);

    public static IDataView DataView(MLContext mlContext, int count, int seed = 0) =>
        mlContext.Data.LoadFromEnumerable(Rows(count, seed).ToList());
}
