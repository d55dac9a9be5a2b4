using System;

namespace Microsoft.ML.Clip.Datasets;

/// <summary>Recognizes encoded images by their first bytes, without decoding.</summary>
internal static class ImageSignature
{
    /// <summary>Null when the bytes start like a JPEG, PNG, WebP, GIF, BMP or TIFF file; otherwise why not.</summary>
    public static string? Check(ReadOnlySpan<byte> bytes)
    {
        if (bytes.Length == 0)
            return "the image is empty (0 bytes)";
        if (bytes.StartsWith((ReadOnlySpan<byte>)[0xFF, 0xD8, 0xFF])
            || bytes.StartsWith((ReadOnlySpan<byte>)[0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A])
            || bytes.StartsWith("GIF8"u8)
            || bytes.StartsWith("BM"u8)
            || bytes.StartsWith("II*\0"u8) || bytes.StartsWith("MM\0*"u8)
            || (bytes.Length >= 12 && bytes.StartsWith("RIFF"u8) && bytes.Slice(8, 4).SequenceEqual("WEBP"u8)))
            return null;
        int shown = Math.Min(bytes.Length, 8);
        return $"the bytes are not a JPEG, PNG, WebP, GIF, BMP or TIFF image (length {bytes.Length}, starting {Convert.ToHexString(bytes[..shown])})";
    }
}
