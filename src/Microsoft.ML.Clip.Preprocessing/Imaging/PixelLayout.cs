namespace Microsoft.ML.Clip.Imaging;

/// <summary>Byte positions of the channels of a <see cref="RawPixelFormat"/>; alpha, when present, is always byte 3.</summary>
internal readonly record struct PixelLayout(int BytesPerPixel, int Red, int Green, int Blue, bool HasAlpha, bool Premultiplied)
{
    public static PixelLayout Of(RawPixelFormat format) => format switch
    {
        RawPixelFormat.Rgb24 => new(3, 0, 1, 2, false, false),
        RawPixelFormat.Bgr24 => new(3, 2, 1, 0, false, false),
        RawPixelFormat.Gray8 => new(1, 0, 0, 0, false, false),
        RawPixelFormat.Rgba32 => new(4, 0, 1, 2, true, false),
        RawPixelFormat.Bgra32 => new(4, 2, 1, 0, true, false),
        RawPixelFormat.Rgba32Premultiplied => new(4, 0, 1, 2, true, true),
        _ => new(4, 2, 1, 0, true, true), // Bgra32Premultiplied; callers validate the enum first
    };
}
