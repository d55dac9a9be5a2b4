using System;

namespace Microsoft.ML.Clip.Imaging;

/// <summary>
/// The geometry of one image's trip to the square output: the size torchvision's <c>Resize</c> would produce
/// and the window <c>CenterCrop</c> would keep of it.
/// </summary>
/// <remarks>
/// Only the cropped window is ever computed: a separable resampler's output pixels are independent, so
/// resampling just the kept columns and rows gives the same bytes as resizing everything and cropping, without
/// the work on the discarded edges (which for a 10:1 panorama is 90% of it). That is also why the resized size is a
/// <see cref="long"/>: for extreme aspect ratios it need not fit an <see cref="int"/>, and nothing that big is allocated.
/// </remarks>
internal readonly record struct ResizePlan(
    int SourceWidth, int SourceHeight, long ResizedWidth, long ResizedHeight, long CropX, long CropY, int Size)
{
    /// <summary>Whether PIL would run its horizontal pass (it skips a pass whose size does not change).</summary>
    public bool ResizesHorizontally => ResizedWidth != SourceWidth;

    /// <summary>Whether PIL would run its vertical pass.</summary>
    public bool ResizesVertically => ResizedHeight != SourceHeight;

    /// <summary>Whether PIL's <c>Image.resize</c> does anything (it returns a plain copy for an unchanged size).</summary>
    public bool Resizes => ResizesHorizontally || ResizesVertically;

    public static ResizePlan Create(int width, int height, int size, ClipResizeMode mode)
    {
        if (mode == ClipResizeMode.Squash)
            return new ResizePlan(width, height, size, size, 0, 0, size);

        // torchvision Resize(size) with an int: the short side becomes `size`, the long side
        // int(size * long / short). Python's int/int true division is correctly rounded, as is the
        // division of two exactly representable doubles here (the product stays far below 2^53).
        long resizedWidth, resizedHeight;
        if (width <= height)
        {
            resizedWidth = size;
            resizedHeight = (long)((double)((long)size * height) / width);
        }
        else
        {
            resizedHeight = size;
            resizedWidth = (long)((double)((long)size * width) / height);
        }

        // torchvision CenterCrop: int(round((h - size) / 2.0)), Python's round-half-to-even, which is
        // also Math.Round's default. The resized image is never smaller than the crop here.
        long cropX = (long)Math.Round((resizedWidth - size) / 2.0, MidpointRounding.ToEven);
        long cropY = (long)Math.Round((resizedHeight - size) / 2.0, MidpointRounding.ToEven);
        return new ResizePlan(width, height, resizedWidth, resizedHeight, cropX, cropY, size);
    }
}
