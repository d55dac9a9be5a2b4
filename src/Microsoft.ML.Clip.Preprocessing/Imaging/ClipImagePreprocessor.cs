using System;
using System.Buffers;
using System.Collections.Generic;
using System.Runtime.InteropServices;
using System.Threading.Tasks;

namespace Microsoft.ML.Clip.Imaging;

/// <summary>
/// Turns images into the normalized float32 tensors a CLIP vision tower expects, reproducing open_clip's
/// evaluation transform: PIL bicubic (or bilinear) antialiased resize (shortest side, or squash), torchvision centre crop,
/// <c>convert('RGB')</c>, <c>ToTensor</c>, <c>Normalize</c>.
/// </summary>
/// <remarks>
/// <para><b>Parity.</b> The resize runs Pillow's 8-bit fixed-point algorithm with the same weights and the same
/// rounding between its horizontal and vertical passes, and normalization uses torch's float32 expression, so for
/// opaque images the output equals open_clip's up to float rounding.</para>
/// <para><b>Transparency.</b> As PIL does for <c>RGBA</c> images, a resize is computed on premultiplied colours and
/// the alpha is divided back out (Pillow's integer rules) before being dropped; fully transparent areas thus come
/// out as whatever colour they hold after premultiplication, usually black. Pixels given as premultiplied
/// (<see cref="RawPixelFormat"/>; ML.NET's <c>MLImage</c>, whose adapters live in the library, is always so: SkiaSharp
/// decodes images with transparency to premultiplied colours, with the same rounding as PIL) are resized as they are. An image that needs no resize keeps its stored colours (PIL returns a copy), unpremultiplied if they were
/// premultiplied. Straight-alpha images whose pixels are all opaque skip the premultiplication.</para>
/// <para><b>Known difference.</b> PIL resizes palette (<c>P</c> mode) images with nearest-neighbour sampling whatever
/// filter is asked for; decoded <c>MLImage</c>s no longer say they had a palette, so they get bicubic.</para>
/// <para><b>Threads.</b> An instance is immutable and thread-safe: data loaders may call
/// <see cref="PreprocessInto(ReadOnlySpan{byte}, int, int, int, RawPixelFormat, Span{float})"/> from many threads.
/// A single image runs on the calling thread, since the per-image work is too small to split profitably.</para>
/// <para><b>Dependencies.</b> This assembly needs neither TorchSharp nor ML.NET, so an application that serves an
/// exported ONNX model can preprocess exactly as training did. The library adds overloads for ML.NET's <c>MLImage</c>
/// (batches run in parallel, <see cref="ImagePreprocessingOptions.MaxDegreeOfParallelism"/>) and for TorchSharp tensors.</para>
/// </remarks>
public sealed unsafe class ClipImagePreprocessor
{
    /// <summary>Working memory (weights plus intermediate rows) one image may need before it is refused as degenerate.</summary>
    internal const long MaxWorkingBytes = 1L << 30;

    private readonly NormalizationTable _table;
    private readonly ResampleFilter _filter;
    private readonly int _size;

    /// <summary>Creates a preprocessor; <paramref name="options"/> defaults to OpenAI CLIP at 224 pixels.</summary>
    /// <exception cref="ArgumentException">An option is invalid (see <see cref="ImagePreprocessingOptions.Validate"/>).</exception>
    public ClipImagePreprocessor(ImagePreprocessingOptions? options = null)
    {
        options ??= new ImagePreprocessingOptions();
        options.Validate();
        Options = options;
        _size = options.ImageSize;
        _filter = ResampleFilter.For(options.Interpolation);
        _table = new NormalizationTable(options.Mean, options.Std);
    }

    /// <summary>The (validated, immutable) settings.</summary>
    public ImagePreprocessingOptions Options { get; }

    /// <summary>Side of the square output in pixels.</summary>
    public int ImageSize => _size;

    /// <summary>Floats written per image: 3 × <see cref="ImageSize"/>².</summary>
    public int OutputLength => 3 * _size * _size;

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

    /// <summary>Preprocesses one image from validated pointers (the MLImage adapters in the library call this).</summary>
    internal void Run(byte* pixels, long pixelBytes, int width, int height, int stride, RawPixelFormat format, float* destination)
    {
        var layout = PixelLayout.Of(format);
        // Public entry points validate their arguments; this guards the pointer arithmetic below for MLImages too.
        if (stride < (long)width * layout.BytesPerPixel || (long)stride * (height - 1) + (long)width * layout.BytesPerPixel > pixelBytes)
            throw new ArgumentException($"The image's pixel buffer ({pixelBytes} bytes, stride {stride}) does not hold a {width}x{height} image.");
        var plan = ResizePlan.Create(width, height, _size, Options.ResizeMode);
        int bpp = layout.BytesPerPixel;
        int rowBytes = _size * bpp;

        CheckWorkingMemory(plan, layout);
        ResampleKernel? horizontal = plan.ResizesHorizontally ? ResampleKernel.Get(width, plan.ResizedWidth, plan.CropX, _size, _filter) : null;
        ResampleKernel? vertical = plan.ResizesVertically ? ResampleKernel.Get(height, plan.ResizedHeight, plan.CropY, _size, _filter) : null;
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
        if (plan.ResizesHorizontally) weightBytes += 20 * ResampleKernel.EstimateWeights(plan.SourceWidth, plan.ResizedWidth, _size, _filter);
        if (plan.ResizesVertically)
        {
            weightBytes += 4 * ResampleKernel.EstimateWeights(plan.SourceHeight, plan.ResizedHeight, _size, _filter);
            rows = Math.Min(plan.SourceHeight, (long)Math.Ceiling((_size + 4.0) * Math.Max(1.0, (double)plan.SourceHeight / plan.ResizedHeight)) + 4);
        }
        long bytes = weightBytes + plan.Size * 3L * sizeof(int) + rows * rowBytes;
        if (bytes > MaxWorkingBytes)
            throw new ImageTooLargeException(
                $"The {plan.SourceWidth}x{plan.SourceHeight} image would need about {bytes / (1 << 20)} MiB of working memory to " +
                $"{Options.ResizeMode} to {_size}x{_size}, above the {MaxWorkingBytes / (1 << 20)} MiB limit; its aspect ratio is too extreme.",
                plan.SourceWidth, plan.SourceHeight, MaxWorkingBytes);
    }

    /// <summary>
    /// Refuses an image above <see cref="ImagePreprocessingOptions.MaxPixels"/>: image <paramref name="index"/> of a batch
    /// (null: a single image), read from its header only (<paramref name="decoded"/> false) or already decoded.
    /// </summary>
    internal void CheckPixelCount(int width, int height, int? index = null, bool decoded = true)
    {
        long count = (long)width * height;
        if (count > Options.MaxPixels)
            throw new ImageTooLargeException(
                $"{(index is null ? "The image" : $"Image {index} of the batch")} is {width}x{height} = {count:N0} pixels, " +
                $"above the limit of {Options.MaxPixels:N0} pixels (ImagePreprocessingOptions.MaxPixels){(decoded ? "" : "; it was not decoded")}.",
                width, height, Options.MaxPixels);
    }

    internal void CheckDestination(int length, int images)
    {
        long needed = (long)images * OutputLength;
        if (length < needed)
            throw new ArgumentException($"The destination holds {length} floats; {images} image(s) of [3, {_size}, {_size}] need {needed}.", "destination");
    }
}
