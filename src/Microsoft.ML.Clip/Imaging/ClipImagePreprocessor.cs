using System;
using System.Buffers;
using System.Collections.Generic;
using System.Runtime.InteropServices;
using System.Threading.Tasks;
using Microsoft.ML.Data;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Clip.Imaging;

/// <summary>
/// Turns images into the normalized float32 tensors a CLIP vision tower expects, reproducing open_clip's
/// evaluation transform: PIL bicubic antialiased resize (shortest side, or squash), torchvision centre crop,
/// <c>convert('RGB')</c>, <c>ToTensor</c>, <c>Normalize</c>.
/// </summary>
/// <remarks>
/// <para><b>Parity.</b> The resize runs Pillow's 8-bit fixed-point algorithm with the same weights and the same
/// rounding between its horizontal and vertical passes, and normalization uses torch's float32 expression, so for
/// opaque images the output equals open_clip's up to float rounding.</para>
/// <para><b>Transparency.</b> As PIL does for <c>RGBA</c> images, a resize is computed on premultiplied colours and
/// the alpha is divided back out (Pillow's integer rules) before being dropped; fully transparent areas thus come
/// out as whatever colour they hold after premultiplication, usually black. <c>MLImage</c> pixels are treated as
/// premultiplied: SkiaSharp decodes images with transparency to premultiplied colours, with the same rounding as
/// PIL. An image that needs no resize keeps its stored colours (PIL returns a copy), unpremultiplied if they were
/// premultiplied. Straight-alpha images whose pixels are all opaque skip the premultiplication.</para>
/// <para><b>Known difference.</b> PIL resizes palette (<c>P</c> mode) images with nearest-neighbour sampling whatever
/// filter is asked for; decoded <c>MLImage</c>s no longer say they had a palette, so they get bicubic.</para>
/// <para><b>Threads.</b> An instance is immutable and thread-safe: data loaders may call <see cref="PreprocessInto(MLImage, Span{float})"/>
/// from many threads. Batch methods process images in parallel (<see cref="ImagePreprocessingOptions.MaxDegreeOfParallelism"/>);
/// a single image runs on the calling thread, since the per-image work is too small to split profitably.</para>
/// </remarks>
public sealed unsafe class ClipImagePreprocessor
{
    /// <summary>Working memory (weights plus intermediate rows) one image may need before it is refused as degenerate.</summary>
    internal const long MaxWorkingBytes = 1L << 30;

    private readonly NormalizationTable _table;
    private readonly int _size;

    /// <summary>Creates a preprocessor; <paramref name="options"/> defaults to OpenAI CLIP at 224 pixels.</summary>
    /// <exception cref="ArgumentException">An option is invalid (see <see cref="ImagePreprocessingOptions.Validate"/>).</exception>
    public ClipImagePreprocessor(ImagePreprocessingOptions? options = null)
    {
        options ??= new ImagePreprocessingOptions();
        options.Validate();
        Options = options;
        _size = options.ImageSize;
        _table = new NormalizationTable(options.Mean, options.Std);
    }

    /// <summary>The (validated, immutable) settings.</summary>
    public ImagePreprocessingOptions Options { get; }

    /// <summary>Side of the square output in pixels.</summary>
    public int ImageSize => _size;

    /// <summary>Floats written per image: 3 × <see cref="ImageSize"/>².</summary>
    public int OutputLength => 3 * _size * _size;

    /// <summary>Preprocesses one image into a new <c>[3, S, S]</c> float32 CPU tensor.</summary>
    /// <exception cref="ImageTooLargeException">The image holds more than <see cref="ImagePreprocessingOptions.MaxPixels"/> pixels.</exception>
    public Tensor Preprocess(MLImage image)
    {
        ArgumentNullException.ThrowIfNull(image);
        var result = empty(new long[] { 3, _size, _size }, ScalarType.Float32);
        try
        {
            PreprocessInto(image, Floats(result));
            return result;
        }
        catch
        {
            result.Dispose();
            throw;
        }
    }

    /// <summary>Preprocesses a batch, in parallel, into a new <c>[N, 3, S, S]</c> float32 CPU tensor.</summary>
    /// <exception cref="ImageTooLargeException">An image holds more than <see cref="ImagePreprocessingOptions.MaxPixels"/> pixels (checked before any work).</exception>
    public Tensor Preprocess(IReadOnlyList<MLImage> images)
    {
        ArgumentNullException.ThrowIfNull(images);
        var result = empty(new long[] { images.Count, 3, _size, _size }, ScalarType.Float32);
        try
        {
            PreprocessInto(images, Floats(result));
            return result;
        }
        catch
        {
            result.Dispose();
            throw;
        }
    }

    /// <summary>Preprocesses raw pixels into a new <c>[3, S, S]</c> float32 CPU tensor (see <see cref="PreprocessInto(ReadOnlySpan{byte}, int, int, int, RawPixelFormat, Span{float})"/>).</summary>
    public Tensor Preprocess(ReadOnlySpan<byte> pixels, int width, int height, int stride, RawPixelFormat format)
    {
        var result = empty(new long[] { 3, _size, _size }, ScalarType.Float32);
        try
        {
            PreprocessInto(pixels, width, height, stride, format, Floats(result));
            return result;
        }
        catch
        {
            result.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Preprocesses one image into the first <see cref="OutputLength"/> floats of <paramref name="destination"/>
    /// (planes R, G, B, each row-major). Allocates nothing per call apart from pooled scratch buffers (and the
    /// resampling weights the first time an image size is seen), so data loaders can fill slices of a pinned batch
    /// buffer from worker threads.
    /// </summary>
    /// <param name="image">A decoded image (<c>Bgra32</c> or <c>Rgba32</c>; grayscale images arrive as 4 channels).</param>
    /// <param name="destination">At least <see cref="OutputLength"/> floats.</param>
    /// <exception cref="ImageTooLargeException">The image holds more than <see cref="ImagePreprocessingOptions.MaxPixels"/> pixels.</exception>
    public void PreprocessInto(MLImage image, Span<float> destination)
    {
        ArgumentNullException.ThrowIfNull(image);
        CheckDestination(destination.Length, 1);
        var format = FormatOf(image);
        int width = image.Width, height = image.Height;
        CheckPixelCount(width, height);
        ReadOnlySpan<byte> pixels = image.Pixels;
        fixed (byte* source = pixels)
        fixed (float* output = destination)
            Run(source, pixels.Length, width, height, StrideOf(pixels.Length, width, height), format, output);
        // The span points into the image's native bitmap: without this the image may be finalized (and its
        // pixels freed) while they are still being read, once nothing else references it.
        GC.KeepAlive(image);
    }

    /// <summary>
    /// Preprocesses a batch, in parallel, into <paramref name="destination"/>: image <c>i</c> fills floats
    /// <c>[i · OutputLength, (i + 1) · OutputLength)</c>.
    /// </summary>
    /// <exception cref="ImageTooLargeException">An image holds more than <see cref="ImagePreprocessingOptions.MaxPixels"/> pixels (checked before any work).</exception>
    public void PreprocessInto(IReadOnlyList<MLImage> images, Span<float> destination)
    {
        ArgumentNullException.ThrowIfNull(images);
        int count = images.Count;
        CheckDestination(destination.Length, count);
        // Validate everything up front, on the calling thread, so a bad image surfaces as its own exception
        // (not an AggregateException) and no worker starts on a batch that will fail.
        for (int i = 0; i < count; i++)
        {
            var image = images[i] ?? throw new ArgumentException($"Image {i} of the batch is null.", nameof(images));
            FormatOf(image);
            CheckPixelCount(image.Width, image.Height, i);
        }

        fixed (float* output = destination)
        {
            nint outputAddress = (nint)output;
            int length = OutputLength;
            var parallel = new ParallelOptions { MaxDegreeOfParallelism = Options.MaxDegreeOfParallelism };
            try
            {
                Parallel.For(0, count, parallel, i =>
                {
                    var image = images[i];
                    ReadOnlySpan<byte> pixels = image.Pixels;
                    fixed (byte* source = pixels)
                        Run(source, pixels.Length, image.Width, image.Height, StrideOf(pixels.Length, image.Width, image.Height), FormatOf(image),
                            (float*)outputAddress + (long)i * length);
                    GC.KeepAlive(image); // see PreprocessInto(MLImage, Span<float>)
                });
            }
            catch (AggregateException e) when (e.InnerExceptions.Count == 1)
            {
                // One failing image: rethrow it as is, with its own stack trace.
                System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(e.InnerExceptions[0]).Throw();
            }
        }
    }

    /// <summary>
    /// Preprocesses raw 8-bit pixels (any source: a decoder, a video frame, a camera buffer) into the first
    /// <see cref="OutputLength"/> floats of <paramref name="destination"/>.
    /// </summary>
    /// <param name="pixels">Row-major pixels; row <c>y</c> starts at byte <c>y · stride</c>.</param>
    /// <param name="width">Width in pixels (positive).</param>
    /// <param name="height">Height in pixels (positive).</param>
    /// <param name="stride">Bytes from one row to the next, at least <c>width</c> × bytes per pixel.</param>
    /// <param name="format">Channel layout and alpha convention.</param>
    /// <param name="destination">At least <see cref="OutputLength"/> floats.</param>
    /// <exception cref="ImageTooLargeException">The image holds more than <see cref="ImagePreprocessingOptions.MaxPixels"/> pixels.</exception>
    public void PreprocessInto(ReadOnlySpan<byte> pixels, int width, int height, int stride, RawPixelFormat format, Span<float> destination)
    {
        if (!Enum.IsDefined(format)) throw new ArgumentOutOfRangeException(nameof(format), format, "Unknown pixel format.");
        if (width < 1) throw new ArgumentOutOfRangeException(nameof(width), width, "Width must be positive.");
        if (height < 1) throw new ArgumentOutOfRangeException(nameof(height), height, "Height must be positive.");
        CheckPixelCount(width, height);
        int bytesPerPixel = PixelLayout.Of(format).BytesPerPixel;
        if (stride < (long)width * bytesPerPixel)
            throw new ArgumentOutOfRangeException(nameof(stride), stride, $"Stride must be at least width × {bytesPerPixel} = {(long)width * bytesPerPixel} bytes for {format}.");
        long needed = (long)stride * (height - 1) + (long)width * bytesPerPixel;
        if (pixels.Length < needed)
            throw new ArgumentException($"A {width}x{height} {format} image with stride {stride} needs {needed} bytes; the span holds {pixels.Length}.", nameof(pixels));
        CheckDestination(destination.Length, 1);
        fixed (byte* source = pixels)
        fixed (float* output = destination)
            Run(source, pixels.Length, width, height, stride, format, output);
    }

    private void Run(byte* pixels, long pixelBytes, int width, int height, int stride, RawPixelFormat format, float* destination)
    {
        var layout = PixelLayout.Of(format);
        // Public entry points validate their arguments; this guards the pointer arithmetic below for MLImages too.
        if (stride < (long)width * layout.BytesPerPixel || (long)stride * (height - 1) + (long)width * layout.BytesPerPixel > pixelBytes)
            throw new ArgumentException($"The image's pixel buffer ({pixelBytes} bytes, stride {stride}) does not hold a {width}x{height} image.");
        var plan = ResizePlan.Create(width, height, _size, Options.ResizeMode);
        int bpp = layout.BytesPerPixel;
        int rowBytes = _size * bpp;

        CheckWorkingMemory(plan, layout);
        ResampleKernel? horizontal = plan.ResizesHorizontally ? ResampleKernel.Get(width, plan.ResizedWidth, plan.CropX, _size) : null;
        ResampleKernel? vertical = plan.ResizesVertically ? ResampleKernel.Get(height, plan.ResizedHeight, plan.CropY, _size) : null;
        // Without a pass along an axis, the crop window itself is what is read along it.
        int firstColumn = horizontal?.InputStart ?? (int)plan.CropX;
        int endColumn = horizontal?.InputEnd ?? (int)plan.CropX + _size;
        int firstRow = vertical?.InputStart ?? (int)plan.CropY;
        int endRow = vertical?.InputEnd ?? (int)plan.CropY + _size;
        int rows = endRow - firstRow;

        byte[]? premultiplied = null, horizontalRows = null, verticalRows = null;
        try
        {
            // `source` points at image row `firstRow`; column offsets stay absolute.
            byte* source = pixels + (long)firstRow * stride;
            long sourceStride = stride;
            // Premultiplied input (every MLImage) is resized as is and unpremultiplied at the end, as PIL does with
            // RGBa. No opacity scan is needed: for opaque pixels the colours equal the straight ones, the resized
            // alpha stays 255 (the fixed-point weights sum to 1 within far less than the 1/255 that could lower it,
            // for any downscale below about 4000:1) and dividing by 255 is skipped, so opaque images get exactly
            // the plain RGB result.
            bool unpremultiply = layout.Premultiplied;
            // Straight alpha needs a premultiplied copy before a resize, but only if some pixel is transparent:
            // scanning is much cheaper than copying, and opaque images are the common case.
            if (layout.HasAlpha && !layout.Premultiplied && plan.Resizes
                && !AlphaChannel.AllOpaque(source + firstColumn * 4, stride, endColumn - firstColumn, rows))
            {
                premultiplied = ArrayPool<byte>.Shared.Rent(checked(rows * width * 4));
                fixed (byte* p = premultiplied)
                    AlphaChannel.Premultiply(source, stride, width, rows, p, width * 4);
                sourceStride = width * 4;
                unpremultiply = true;
            }

            fixed (byte* premultipliedPointer = premultiplied)
            {
                if (premultiplied is not null) source = premultipliedPointer;

                if (horizontal is not null)
                {
                    horizontalRows = ArrayPool<byte>.Shared.Rent(checked(rows * rowBytes));
                    fixed (byte* h = horizontalRows)
                    {
                        SeparableResampler.Horizontal(source, (int)sourceStride, rows, bpp, horizontal, h);
                        if (vertical is not null)
                        {
                            verticalRows = ArrayPool<byte>.Shared.Rent(_size * rowBytes);
                            fixed (byte* v = verticalRows)
                            {
                                SeparableResampler.Vertical(h, rowBytes, firstRow, rowBytes, vertical, v, rowBytes);
                                _table.WritePlanes(v, rowBytes, _size, bpp, layout.Red, layout.Green, layout.Blue, unpremultiply, destination);
                            }
                            return;
                        }
                        // Height unchanged: the buffer holds exactly the cropped rows.
                        _table.WritePlanes(h, rowBytes, _size, bpp, layout.Red, layout.Green, layout.Blue, unpremultiply, destination);
                        return;
                    }
                }

                byte* columns = source + (long)firstColumn * bpp;
                if (vertical is not null)
                {
                    verticalRows = ArrayPool<byte>.Shared.Rent(_size * rowBytes);
                    fixed (byte* v = verticalRows)
                    {
                        SeparableResampler.Vertical(columns, sourceStride, firstRow, rowBytes, vertical, v, rowBytes);
                        _table.WritePlanes(v, rowBytes, _size, bpp, layout.Red, layout.Green, layout.Blue, unpremultiply, destination);
                    }
                    return;
                }

                // No resize at all: normalize the crop window straight from the source.
                _table.WritePlanes(columns, sourceStride, _size, bpp, layout.Red, layout.Green, layout.Blue, unpremultiply, destination);
            }
        }
        finally
        {
            if (premultiplied is not null) ArrayPool<byte>.Shared.Return(premultiplied);
            if (horizontalRows is not null) ArrayPool<byte>.Shared.Return(horizontalRows);
            if (verticalRows is not null) ArrayPool<byte>.Shared.Return(verticalRows);
        }
    }

    /// <summary>
    /// Refuses shapes whose weights or intermediate rows would need more than <see cref="MaxWorkingBytes"/>.
    /// The default mode never gets near it (its cost is bounded by the short side); only squashing an extreme
    /// sliver, like a 50,000,000 × 1 strip, would, because PIL's algorithm then really does touch every pixel many times.
    /// </summary>
    private void CheckWorkingMemory(ResizePlan plan, PixelLayout layout)
    {
        // Row buffers: the horizontal pass's output, plus a premultiplied copy for straight-alpha inputs.
        long rowBytes = (long)_size * layout.BytesPerPixel + (layout.HasAlpha && !layout.Premultiplied ? (long)plan.SourceWidth * 4 : 0);
        // Weights: 4 bytes each, plus 16 for the horizontal kernel's lane-spread copy (LaneWeights).
        long weightBytes = 0, rows = plan.ResizesVertically ? 0 : _size;
        if (plan.ResizesHorizontally) weightBytes += 20 * ResampleKernel.EstimateWeights(plan.SourceWidth, plan.ResizedWidth, _size);
        if (plan.ResizesVertically)
        {
            weightBytes += 4 * ResampleKernel.EstimateWeights(plan.SourceHeight, plan.ResizedHeight, _size);
            rows = Math.Min(plan.SourceHeight, (long)Math.Ceiling((_size + 4.0) * Math.Max(1.0, (double)plan.SourceHeight / plan.ResizedHeight)) + 4);
        }
        long bytes = weightBytes + plan.Size * 3L * sizeof(int) + rows * rowBytes;
        if (bytes > MaxWorkingBytes)
            throw new ImageTooLargeException(
                $"The {plan.SourceWidth}x{plan.SourceHeight} image would need about {bytes / (1 << 20)} MiB of working memory to " +
                $"{Options.ResizeMode} to {_size}x{_size}, above the {MaxWorkingBytes / (1 << 20)} MiB limit; its aspect ratio is too extreme.",
                plan.SourceWidth, plan.SourceHeight, MaxWorkingBytes);
    }

    private void CheckPixelCount(int width, int height, int? index = null)
    {
        long count = (long)width * height;
        if (count > Options.MaxPixels)
            throw new ImageTooLargeException(
                $"{(index is null ? "The image" : $"Image {index} of the batch")} is {width}x{height} = {count:N0} pixels, " +
                $"above the limit of {Options.MaxPixels:N0} pixels (ImagePreprocessingOptions.MaxPixels).",
                width, height, Options.MaxPixels);
    }

    private void CheckDestination(int length, int images)
    {
        long needed = (long)images * OutputLength;
        if (length < needed)
            throw new ArgumentException($"The destination holds {length} floats; {images} image(s) of [3, {_size}, {_size}] need {needed}.", "destination");
    }

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
