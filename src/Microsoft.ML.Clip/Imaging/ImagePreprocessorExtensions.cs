using System;
using System.Collections.Generic;
using System.Runtime.ExceptionServices;
using System.Runtime.InteropServices;
using System.Threading.Tasks;
using Microsoft.ML.Data;
using static TorchSharp.torch;

namespace Microsoft.ML.Clip.Imaging;

/// <summary>
/// <see cref="ClipImagePreprocessor"/> over ML.NET's decoded <see cref="MLImage"/>s and into TorchSharp tensors: the
/// preprocessor itself (in Microsoft.ML.Clip.Preprocessing) knows only raw pixels and float spans.
/// </summary>
/// <remarks>
/// An <see cref="MLImage"/>'s pixels are premultiplied <c>Bgra32</c> or <c>Rgba32</c> (SkiaSharp decodes images
/// with transparency that way, with PIL's rounding), so they are resized as PIL resizes premultiplied <c>RGBA</c>.
/// Batches run in parallel up to <see cref="ImagePreprocessingOptions.MaxDegreeOfParallelism"/>.
/// </remarks>
public static unsafe class ImagePreprocessorExtensions
{
    /// <summary>Preprocesses one image into a new <c>[3, S, S]</c> float32 CPU tensor, owned by the caller.</summary>
    /// <exception cref="ImageTooLargeException">The image holds more than <see cref="ImagePreprocessingOptions.MaxPixels"/> pixels.</exception>
    public static Tensor Preprocess(this ClipImagePreprocessor preprocessor, MLImage image)
    {
        ArgumentNullException.ThrowIfNull(preprocessor);
        return Filled(new long[] { 3, preprocessor.ImageSize, preprocessor.ImageSize }, floats => preprocessor.PreprocessInto(image, floats));
    }

    /// <summary>Preprocesses a batch, in parallel, into a new <c>[N, 3, S, S]</c> float32 CPU tensor, owned by the caller.</summary>
    /// <exception cref="ImageTooLargeException">An image holds more than <see cref="ImagePreprocessingOptions.MaxPixels"/> pixels (checked before any work).</exception>
    public static Tensor Preprocess(this ClipImagePreprocessor preprocessor, IReadOnlyList<MLImage> images)
    {
        ArgumentNullException.ThrowIfNull(preprocessor);
        ArgumentNullException.ThrowIfNull(images);
        return Filled(new long[] { images.Count, 3, preprocessor.ImageSize, preprocessor.ImageSize }, floats => preprocessor.PreprocessInto(images, floats));
    }

    /// <summary>Preprocesses raw pixels into a new <c>[3, S, S]</c> float32 CPU tensor, owned by the caller (see
    /// <see cref="ClipImagePreprocessor.PreprocessInto(ReadOnlySpan{byte}, int, int, int, RawPixelFormat, Span{float})"/>).</summary>
    public static Tensor Preprocess(this ClipImagePreprocessor preprocessor, ReadOnlySpan<byte> pixels, int width, int height, int stride, RawPixelFormat format)
    {
        ArgumentNullException.ThrowIfNull(preprocessor);
        var result = empty(new long[] { 3, preprocessor.ImageSize, preprocessor.ImageSize }, ScalarType.Float32);
        try
        {
            preprocessor.PreprocessInto(pixels, width, height, stride, format, Floats(result));
            return result;
        }
        catch
        {
            result.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Preprocesses one image into the first <see cref="ClipImagePreprocessor.OutputLength"/> floats of
    /// <paramref name="destination"/> (planes R, G, B, each row-major), allocating nothing per call apart from pooled
    /// scratch buffers, so data loaders can fill slices of a pinned batch buffer from worker threads.
    /// </summary>
    /// <exception cref="ArgumentException">The image is neither <c>Bgra32</c> nor <c>Rgba32</c>, or the destination is too short.</exception>
    /// <exception cref="ImageTooLargeException">The image holds more than <see cref="ImagePreprocessingOptions.MaxPixels"/> pixels.</exception>
    public static void PreprocessInto(this ClipImagePreprocessor preprocessor, MLImage image, Span<float> destination)
    {
        ArgumentNullException.ThrowIfNull(preprocessor);
        ArgumentNullException.ThrowIfNull(image);
        preprocessor.CheckDestination(destination.Length, 1);
        var format = FormatOf(image);
        preprocessor.CheckPixelCount(image.Width, image.Height);
        fixed (float* output = destination)
            Run(preprocessor, image, format, output);
    }

    /// <summary>
    /// Preprocesses a batch, in parallel, into <paramref name="destination"/>: image <c>i</c> fills floats
    /// <c>[i · OutputLength, (i + 1) · OutputLength)</c>. Every image is checked before any work starts, and a failing
    /// image surfaces as its own exception.
    /// </summary>
    /// <exception cref="ImageTooLargeException">An image holds more than <see cref="ImagePreprocessingOptions.MaxPixels"/> pixels.</exception>
    public static void PreprocessInto(this ClipImagePreprocessor preprocessor, IReadOnlyList<MLImage> images, Span<float> destination)
    {
        ArgumentNullException.ThrowIfNull(preprocessor);
        ArgumentNullException.ThrowIfNull(images);
        int count = images.Count;
        preprocessor.CheckDestination(destination.Length, count);
        var formats = new RawPixelFormat[count];
        for (int i = 0; i < count; i++)
        {
            var image = images[i] ?? throw new ArgumentException($"Image {i} of the batch is null.", nameof(images));
            formats[i] = FormatOf(image);
            preprocessor.CheckPixelCount(image.Width, image.Height, i);
        }

        fixed (float* output = destination)
        {
            nint outputAddress = (nint)output;
            int length = preprocessor.OutputLength;
            var parallel = new ParallelOptions { MaxDegreeOfParallelism = preprocessor.Options.MaxDegreeOfParallelism };
            try
            {
                Parallel.For(0, count, parallel, i => Run(preprocessor, images[i], formats[i], (float*)outputAddress + (long)i * length));
            }
            catch (AggregateException e) when (e.InnerExceptions.Count == 1)
            {
                ExceptionDispatchInfo.Capture(e.InnerExceptions[0]).Throw();
            }
        }
    }

    private static void Run(ClipImagePreprocessor preprocessor, MLImage image, RawPixelFormat format, float* destination)
    {
        ReadOnlySpan<byte> pixels = image.Pixels;
        fixed (byte* source = pixels)
            preprocessor.Run(source, pixels.Length, image.Width, image.Height, StrideOf(pixels.Length, image.Width, image.Height), format, destination);
        // The span points into the image's native bitmap: without this the image may be finalized (and its pixels
        // freed) while they are still being read, once nothing else references it.
        GC.KeepAlive(image);
    }

    private static Tensor Filled(long[] shape, SpanAction fill)
    {
        var result = empty(shape, ScalarType.Float32);
        try
        {
            fill(Floats(result));
            return result;
        }
        catch
        {
            result.Dispose();
            throw;
        }
    }

    private delegate void SpanAction(Span<float> floats);

    private static RawPixelFormat FormatOf(MLImage image) => image.PixelFormat switch
    {
        MLPixelFormat.Bgra32 => RawPixelFormat.Bgra32Premultiplied,
        MLPixelFormat.Rgba32 => RawPixelFormat.Rgba32Premultiplied,
        var other => throw new ArgumentException($"Unsupported MLImage pixel format {other}; expected Bgra32 or Rgba32.", nameof(image)),
    };

    /// <summary>
    /// Row stride of an MLImage's pixels. MLImage does not expose it; SkiaSharp sizes the span as Skia's
    /// <c>computeByteSize</c>, <c>rowBytes · (height - 1) + width · 4</c>, so the stride follows even for padded rows.
    /// </summary>
    private static int StrideOf(int byteCount, int width, int height) =>
        height > 1 ? (int)((byteCount - 4L * width) / (height - 1)) : 4 * width;

    private static Span<float> Floats(Tensor tensor) => MemoryMarshal.Cast<byte, float>(tensor.bytes);
}
