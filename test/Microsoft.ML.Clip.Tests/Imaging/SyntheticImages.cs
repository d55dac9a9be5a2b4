using System;
using System.IO;
using Microsoft.ML.Data;
using SkiaSharp;

namespace Microsoft.ML.Clip.Tests.Imaging;

/// <summary>
/// Deterministic test images. <see cref="Value"/> and <see cref="Alpha"/> mirror make_pil_reference.py exactly:
/// a busy texture (to exercise bicubic overshoot and clipping) and an alpha mixing 0, 255 and partial values.
/// </summary>
internal static class SyntheticImages
{
    public static byte Value(int x, int y, int c) => (byte)((x * x * 7 + y * 13 + c * 85 + ((x * 31) ^ (y * 17))) & 255);

    public static byte Alpha(int x, int y) =>
        (x * 5 + y * 3) % 7 == 0 ? (byte)0 : (x + y) % 5 == 0 ? (byte)255 : (byte)((x * 11 + y * 29) & 255);

    /// <summary>RGB, 3 bytes per pixel, tightly packed.</summary>
    public static byte[] Rgb(int width, int height) => Build(width, height, 3, (x, y, c) => Value(x, y, c));

    /// <summary>Straight (not premultiplied) RGBA; <paramref name="opaque"/> forces alpha 255.</summary>
    public static byte[] Rgba(int width, int height, bool opaque = false) =>
        Build(width, height, 4, (x, y, c) => c == 3 ? (opaque ? (byte)255 : Alpha(x, y)) : Value(x, y, c));

    /// <summary>Luminance only.</summary>
    public static byte[] Gray(int width, int height) => Build(width, height, 1, (x, y, _) => Value(x, y, 0));

    /// <summary>Reorders 4-byte RGBA pixels to BGRA (or back).</summary>
    public static byte[] SwapRedBlue(byte[] pixels, int bytesPerPixel)
    {
        var result = (byte[])pixels.Clone();
        for (int i = 0; i + 2 < result.Length; i += bytesPerPixel)
            (result[i], result[i + 2]) = (result[i + 2], result[i]);
        return result;
    }

    /// <summary>Pillow's RGBA→RGBa rounding, (t + (t &gt;&gt; 8)) &gt;&gt; 8 with t = c·a + 128.</summary>
    public static byte[] Premultiply(byte[] rgba)
    {
        var result = (byte[])rgba.Clone();
        for (int i = 0; i < result.Length; i += 4)
            for (int c = 0; c < 3; c++)
            {
                int t = result[i + c] * result[i + 3] + 128;
                result[i + c] = (byte)((t + (t >> 8)) >> 8);
            }
        return result;
    }

    /// <summary>Encodes straight RGBA as a PNG file (so decoding exercises SkiaSharp's premultiplication) and loads it as an MLImage.</summary>
    public static MLImage DecodeAsPng(byte[] rgba, int width, int height, string folder)
    {
        var info = new SKImageInfo(width, height, SKColorType.Rgba8888, SKAlphaType.Unpremul);
        using var bitmap = new SKBitmap(info);
        System.Runtime.InteropServices.Marshal.Copy(rgba, 0, bitmap.GetPixels(), rgba.Length);
        string path = Path.Combine(folder, $"synthetic_{width}x{height}_{Guid.NewGuid():N}.png");
        using (var data = bitmap.Encode(SKEncodedImageFormat.Png, 100))
        using (var file = File.Create(path))
            data.SaveTo(file);
        return MLImage.CreateFromFile(path);
    }

    private static byte[] Build(int width, int height, int channels, Func<int, int, int, byte> pixel)
    {
        var bytes = new byte[width * height * channels];
        for (int y = 0; y < height; y++)
            for (int x = 0; x < width; x++)
                for (int c = 0; c < channels; c++)
                    bytes[(y * width + x) * channels + c] = pixel(x, y, c);
        return bytes;
    }
}
