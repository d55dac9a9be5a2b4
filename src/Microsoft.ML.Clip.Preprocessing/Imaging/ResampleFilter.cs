using System;

namespace Microsoft.ML.Clip.Imaging;

/// <summary>One of PIL's resampling filters: its support (half-width at scale 1) and its weight function.</summary>
internal sealed class ResampleFilter
{
    /// <summary>PIL's <c>BICUBIC</c>.</summary>
    public static readonly ResampleFilter Bicubic = new(ClipInterpolation.Bicubic, 2.0, ResampleKernel.Bicubic);

    /// <summary>PIL's <c>BILINEAR</c>.</summary>
    public static readonly ResampleFilter Bilinear = new(ClipInterpolation.Bilinear, 1.0, ResampleKernel.Bilinear);

    private ResampleFilter(ClipInterpolation interpolation, double support, Func<double, double> weight)
    {
        Interpolation = interpolation;
        Support = support;
        Weight = weight;
    }

    public ClipInterpolation Interpolation { get; }

    public double Support { get; }

    public Func<double, double> Weight { get; }

    public static ResampleFilter For(ClipInterpolation interpolation) => interpolation switch
    {
        ClipInterpolation.Bicubic => Bicubic,
        ClipInterpolation.Bilinear => Bilinear,
        _ => throw new ArgumentOutOfRangeException(nameof(interpolation), interpolation, "Unknown interpolation."),
    };
}
