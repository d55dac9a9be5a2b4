using System;
using System.Collections.Generic;
using System.Collections.ObjectModel;
using System.Globalization;

namespace Microsoft.ML.Clip.Imaging;

/// <summary>
/// Settings of CLIP image preprocessing: the square input size, resize mode, per-channel normalization and the
/// largest image accepted. The defaults reproduce open_clip's evaluation transform for OpenAI CLIP models at
/// 224 pixels: PIL bicubic resize of the shorter side, centre crop, <c>ToTensor</c>, <c>Normalize</c>.
/// </summary>
/// <remarks>
/// The object is immutable once built (init-only properties; <see cref="Mean"/> and <see cref="Std"/> are copied).
/// <see cref="Validate"/> checks every value; <see cref="ClipImagePreprocessor"/> calls it.
/// </remarks>
public sealed partial class ImagePreprocessingOptions
{
    /// <summary>Largest square size accepted by <see cref="Validate"/>: 3·size² floats must fit in one span.</summary>
    public const int MaxImageSize = 16_384;

    /// <summary>
    /// Default <see cref="MaxPixels"/>: 89,478,485, PIL's <c>Image.MAX_IMAGE_PIXELS</c> (a 1 GiB RGB image, the
    /// threshold of its decompression-bomb warning), which open_clip users implicitly rely on.
    /// </summary>
    public const long DefaultMaxPixels = 89_478_485;

    private static readonly ReadOnlyCollection<float> _openAIClipMean = Array.AsReadOnly(new[] { 0.48145466f, 0.4578275f, 0.40821073f });
    private static readonly ReadOnlyCollection<float> _openAIClipStd = Array.AsReadOnly(new[] { 0.26862954f, 0.26130258f, 0.27577711f });

    private IReadOnlyList<float> _mean = _openAIClipMean;
    private IReadOnlyList<float> _std = _openAIClipStd;

    /// <summary>Creates options with the OpenAI CLIP defaults.</summary>
    /// <param name="imageSize">Side of the square model input in pixels (224 for ViT-B/32 and ViT-B/16).</param>
    public ImagePreprocessingOptions(int imageSize = 224) => ImageSize = imageSize;

    /// <summary>The per-channel (R, G, B) mean of OpenAI's CLIP training images, in [0, 1] units.</summary>
    public static IReadOnlyList<float> OpenAIClipMean => _openAIClipMean;

    /// <summary>The per-channel (R, G, B) standard deviation of OpenAI's CLIP training images, in [0, 1] units.</summary>
    public static IReadOnlyList<float> OpenAIClipStd => _openAIClipStd;

    /// <summary>Side of the square output in pixels; outputs are <c>[3, ImageSize, ImageSize]</c>.</summary>
    public int ImageSize { get; init; }

    /// <summary>How images of other shapes become square. Default: <see cref="ClipResizeMode.ShortestSideCenterCrop"/>.</summary>
    public ClipResizeMode ResizeMode { get; init; } = ClipResizeMode.ShortestSideCenterCrop;

    /// <summary>The resize filter. Default: <see cref="ClipInterpolation.Bicubic"/>, as open_clip.</summary>
    public ClipInterpolation Interpolation { get; init; } = ClipInterpolation.Bicubic;

    /// <summary>Per-channel (R, G, B) mean subtracted after scaling pixels to [0, 1]. Three finite values.</summary>
    public IReadOnlyList<float> Mean
    {
        get => _mean;
        init => _mean = Snapshot(value, nameof(Mean));
    }

    /// <summary>Per-channel (R, G, B) standard deviation divided by after subtracting <see cref="Mean"/>. Three finite positive values.</summary>
    public IReadOnlyList<float> Std
    {
        get => _std;
        init => _std = Snapshot(value, nameof(Std));
    }

    /// <summary>
    /// Images with more pixels (width × height) than this are refused with an <see cref="ImageTooLargeException"/>
    /// before any work is done. Default <see cref="DefaultMaxPixels"/>; use <see cref="long.MaxValue"/> to accept any size.
    /// </summary>
    /// <remarks>
    /// An <c>MLImage</c> is already decoded when it reaches the preprocessor, so this bounds the resize work, not the
    /// decoding memory; guard decoding separately (for example by reading the header first) when inputs are untrusted.
    /// </remarks>
    public long MaxPixels { get; init; } = DefaultMaxPixels;

    /// <summary>
    /// Most images of one batch processed at once (<see cref="System.Threading.Tasks.ParallelOptions.MaxDegreeOfParallelism"/>);
    /// -1 (the default) lets the thread pool decide, 1 processes a batch on the calling thread.
    /// </summary>
    public int MaxDegreeOfParallelism { get; init; } = -1;

    /// <summary>Throws <see cref="ArgumentException"/> naming the first invalid setting.</summary>
    public void Validate()
    {
        if (ImageSize < 1 || ImageSize > MaxImageSize)
            throw new ArgumentOutOfRangeException(nameof(ImageSize), ImageSize, $"ImageSize must be between 1 and {MaxImageSize}.");
        if (!Enum.IsDefined(ResizeMode))
            throw new ArgumentOutOfRangeException(nameof(ResizeMode), ResizeMode, "Unknown resize mode.");
        if (!Enum.IsDefined(Interpolation))
            throw new ArgumentOutOfRangeException(nameof(Interpolation), Interpolation, "Unknown interpolation.");
        CheckChannels(Mean, nameof(Mean), positive: false);
        CheckChannels(Std, nameof(Std), positive: true);
        if (MaxPixels < 1)
            throw new ArgumentOutOfRangeException(nameof(MaxPixels), MaxPixels, "MaxPixels must be at least 1.");
        if (MaxDegreeOfParallelism == 0 || MaxDegreeOfParallelism < -1)
            throw new ArgumentOutOfRangeException(nameof(MaxDegreeOfParallelism), MaxDegreeOfParallelism, "MaxDegreeOfParallelism must be -1 or positive.");
    }

    private static ReadOnlyCollection<float> Snapshot(IReadOnlyList<float>? values, string name)
    {
        ArgumentNullException.ThrowIfNull(values, name);
        var copy = new float[values.Count];
        for (int i = 0; i < copy.Length; i++) copy[i] = values[i];
        return Array.AsReadOnly(copy);
    }

    private static void CheckChannels(IReadOnlyList<float> values, string name, bool positive)
    {
        if (values.Count != 3)
            throw new ArgumentException($"{name} must hold 3 values (R, G, B); it holds {values.Count}.", name);
        for (int i = 0; i < 3; i++)
        {
            float v = values[i];
            if (!float.IsFinite(v) || (positive && v <= 0))
                throw new ArgumentException(
                    $"{name}[{i}] is {v.ToString(CultureInfo.InvariantCulture)}; it must be finite{(positive ? " and positive" : "")}.", name);
        }
    }
}
