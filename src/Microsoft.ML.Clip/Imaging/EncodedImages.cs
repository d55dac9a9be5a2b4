using System;
using System.Buffers;
using System.IO;
using SkiaSharp;

namespace Microsoft.ML.Clip.Imaging;

/// <summary>
/// Encoded image files (bytes as stored) into preprocessed pixels, through SkiaSharp's codecs: the one place that says
/// which formats are read, checks the pixel limit before decoding and reports truncated or corrupt data.
/// </summary>
internal static class EncodedImages
{
    /// <summary>The formats SkiaSharp's codecs decode (as messages name them).</summary>
    public const string SupportedFormats = "JPEG, PNG, WebP, GIF, BMP or ICO";

    /// <summary>Null when the bytes start like a file of one of the <see cref="SupportedFormats"/>; otherwise why not. Reads only the first bytes.</summary>
    public static string? CheckSignature(ReadOnlySpan<byte> bytes)
    {
        if (bytes.Length == 0)
            return "the image is empty (0 bytes)";
        if (bytes.StartsWith((ReadOnlySpan<byte>)[0xFF, 0xD8, 0xFF])
            || bytes.StartsWith((ReadOnlySpan<byte>)[0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A])
            || bytes.StartsWith("GIF8"u8)
            || bytes.StartsWith("BM"u8)
            || bytes.StartsWith((ReadOnlySpan<byte>)[0, 0, 1, 0])
            || (bytes.Length >= 12 && bytes.StartsWith("RIFF"u8) && bytes.Slice(8, 4).SequenceEqual("WEBP"u8)))
            return null;
        int shown = Math.Min(bytes.Length, 8);
        return $"the bytes are not a {SupportedFormats} image (length {bytes.Length}, starting {Convert.ToHexString(bytes[..shown])})";
    }

    /// <summary>
    /// Decodes <paramref name="bytes"/> and preprocesses the image into <paramref name="destination"/>. The dimensions are
    /// read from the header first and images above the pixel limit are refused before anything is decoded (a few
    /// kilobytes of PNG can declare a 13,000 × 13,000 image, gigabytes once decoded). Skia's codec is used directly,
    /// rather than MLImage, because it reports truncated or corrupt data instead of returning a partly black image.
    /// </summary>
    /// <exception cref="InvalidDataException">Not an image of a supported format, an empty size, or truncated or corrupt data.</exception>
    /// <exception cref="ImageTooLargeException">The header declares more than <see cref="ImagePreprocessingOptions.MaxPixels"/> pixels.</exception>
    public static unsafe void DecodeInto(ClipImagePreprocessor preprocessor, byte[] bytes, Span<float> destination)
    {
        using var data = SKData.CreateCopy(bytes);
        using var codec = SKCodec.Create(data)
            ?? throw new InvalidDataException($"the {bytes.Length} bytes are not an image in a supported format ({SupportedFormats})");
        var (width, height) = (codec.Info.Width, codec.Info.Height);
        if (width <= 0 || height <= 0)
            throw new InvalidDataException($"the image declares an empty size {width}×{height}");
        preprocessor.CheckPixelCount(width, height, decoded: false);

        // Premultiplied RGBA: the same pixels MLImage hands over (and what PIL's RGBA resize works on).
        var info = new SKImageInfo(width, height, SKColorType.Rgba8888, SKAlphaType.Premul);
        var pixels = ArrayPool<byte>.Shared.Rent(checked(width * height * 4));
        try
        {
            fixed (byte* p = pixels)
            {
                var result = codec.GetPixels(info, (IntPtr)p);
                if (result != SKCodecResult.Success)
                    throw new InvalidDataException($"the {width}×{height} image could not be decoded ({result}): truncated or corrupt data");
            }
            preprocessor.PreprocessInto(pixels.AsSpan(0, width * height * 4), width, height, width * 4, RawPixelFormat.Rgba32Premultiplied, destination);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(pixels);
        }
    }
}
