namespace Microsoft.ML.Clip.Imaging;

/// <summary>
/// Layout of 8-bit pixels handed to <see cref="ClipImagePreprocessor"/> as raw bytes. The straight/premultiplied
/// distinction matters only for pixels that are not fully opaque; see <see cref="ClipImagePreprocessor"/> for how
/// transparency is treated.
/// </summary>
public enum RawPixelFormat
{
    /// <summary>Three bytes per pixel: red, green, blue.</summary>
    Rgb24,

    /// <summary>Three bytes per pixel: blue, green, red.</summary>
    Bgr24,

    /// <summary>One byte per pixel: luminance (PIL mode <c>L</c>); becomes three equal channels.</summary>
    Gray8,

    /// <summary>Four bytes per pixel: red, green, blue, alpha, with colours not multiplied by alpha (PIL <c>RGBA</c>, PNG files).</summary>
    Rgba32,

    /// <summary>Four bytes per pixel: blue, green, red, alpha, with colours not multiplied by alpha.</summary>
    Bgra32,

    /// <summary>Four bytes per pixel: red, green, blue, alpha, with colours already multiplied by alpha (PIL <c>RGBa</c>, SkiaSharp bitmaps).</summary>
    Rgba32Premultiplied,

    /// <summary>Four bytes per pixel: blue, green, red, alpha, with colours already multiplied by alpha (SkiaSharp bitmaps, <c>MLImage</c>).</summary>
    Bgra32Premultiplied,
}
