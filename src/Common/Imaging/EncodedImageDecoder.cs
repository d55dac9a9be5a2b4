using System;
using System.Buffers;
using System.IO;
using System.Threading.Tasks;
using SkiaSharp;

namespace Microsoft.ML.Clip.Imaging;

/// <summary>
/// Encoded image files (bytes as stored) into preprocessed pixels, through SkiaSharp's codecs: the one place that says
/// which formats are read, checks the pixel limit before decoding and reports truncated or corrupt data. Source shared
/// by the library's image columns and datasets and the embedding generators (linked into each assembly, internal there),
/// so every route decodes the same way.
/// </summary>
internal static class EncodedImageDecoder
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

    /// <summary>
    /// Decodes and preprocesses slots 0 … <paramref name="count"/> − 1 in parallel: slot <c>i</c>'s bytes come from
    /// <paramref name="read"/> (null: nothing to decode there; it may throw to refuse the input) and fill floats
    /// <c>[i · OutputLength, (i + 1) · OutputLength)</c> of <paramref name="destination"/>.
    /// </summary>
    /// <param name="count">Slots in use.</param>
    /// <param name="preprocessor">The model's preprocessing.</param>
    /// <param name="destination">The batch's pixel planes.</param>
    /// <param name="read">The encoded bytes of a slot (called once per slot, on a worker thread).</param>
    /// <param name="describe">The input exception for a slot's failure (names the column or input and its row or index).</param>
    /// <param name="onBadImage">When set, a bad image is reported here (with its slot) instead of failing the batch.</param>
    /// <exception cref="ClipInputException">Without <paramref name="onBadImage"/>: the first bad slot of the batch (itself, never an AggregateException).</exception>
    public static void DecodeAll(int count, ClipImagePreprocessor preprocessor, float[] destination, Func<int, ReadOnlyMemory<byte>?> read,
        Func<int, Exception, ClipInputException> describe, Action<int, ClipInputException>? onBadImage = null)
    {
        int length = preprocessor.OutputLength;
        // Failures are kept by slot and the first one thrown after the loop: the same slot whichever decoder thread
        // fails first, and the exception itself rather than Parallel.For's AggregateException around it.
        var failures = onBadImage is null ? new ClipInputException?[count] : null;
        Parallel.For(0, count, (i, loop) =>
        {
            try
            {
                if (read(i) is { } bytes)
                    DecodeInto(bytes.Span, preprocessor, destination.AsSpan(i * length, length));
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                var error = describe(i, ex);
                if (failures is null) { onBadImage!(i, error); return; }
                failures[i] = error;
                loop.Break(); // later slots need not be decoded; earlier ones still are, so the first failure is found
            }
        });
        if (failures is not null && Array.Find(failures, f => f is not null) is { } first)
            throw first;
    }
}
