using System;

namespace Microsoft.ML.Clip.Imaging;

/// <summary>
/// An image was refused because it holds more pixels than <see cref="ImagePreprocessingOptions.MaxPixels"/>
/// allows (a decompression-bomb guard), or because its shape would need an unreasonable amount of working memory.
/// Data pipelines can catch this type to skip the image.
/// </summary>
public sealed class ImageTooLargeException : ArgumentException
{
    /// <summary>An image of <paramref name="width"/> × <paramref name="height"/> pixels refused for exceeding <paramref name="limit"/> pixels.</summary>
    public ImageTooLargeException(string message, int width, int height, long limit) : base(message)
    {
        Width = width;
        Height = height;
        Limit = limit;
    }

    /// <summary>Width of the refused image in pixels.</summary>
    public int Width { get; }

    /// <summary>Height of the refused image in pixels.</summary>
    public int Height { get; }

    /// <summary>The limit that was exceeded (a pixel count, or bytes of working memory).</summary>
    public long Limit { get; }
}
