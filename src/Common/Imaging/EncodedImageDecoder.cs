using System;
using System.Buffers;
using System.IO;
using SkiaSharp;

namespace Microsoft.ML.Clip.Imaging;

/// <summary>
/// Decodes one encoded image (PNG, JPEG, WebP, GIF, BMP, ICO) with SkiaSharp and preprocesses it. Source shared by the
/// library's image columns and the embedding generators (linked into each assembly, internal there), so every
/// route decodes the same way.
/// </summary>
internal static class EncodedImageDecoder
{
    /// <summary>
    /// Decodes <paramref name="bytes"/> and preprocesses the image into <paramref name="destination"/>. The dimensions
    /// are read from the header first and images above the pixel limit are refused before anything is decoded (a few
    /// kilobytes of PNG can declare a 13,000 × 13,000 image, gigabytes once decoded). Skia's codec is used directly,
    /// rather than MLImage, because it reports truncated or corrupt data instead of returning a partly black image.
    /// </summary>
    /// <exception cref="InvalidDataException">Not an image, an empty size, or truncated/corrupt data (the message says which).</exception>
    /// <exception cref="ImageTooLargeException">The header declares more than <see cref="ImagePreprocessingOptions.MaxPixels"/> pixels.</exception>
    public static unsafe void DecodeInto(ReadOnlySpan<byte> bytes, ClipImagePreprocessor preprocessor, Span<float> destination)
    {
        using var data = SKData.CreateCopy(bytes);
        using var codec = SKCodec.Create(data)
            ?? throw new InvalidDataException($"the {bytes.Length} bytes are not an image in a supported format (PNG, JPEG, WebP, GIF, BMP, ICO)");
        var (width, height) = (codec.Info.Width, codec.Info.Height);
        long limit = preprocessor.Options.MaxPixels;
        if (width <= 0 || height <= 0)
            throw new InvalidDataException($"the image declares an empty size {width}×{height}");
        if ((long)width * height > limit)
            throw new ImageTooLargeException($"the image is {width}×{height} = {(long)width * height:N0} pixels, above the limit of {limit:N0} (ImagePreprocessingOptions.MaxPixels); it was not decoded.", width, height, limit);

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
