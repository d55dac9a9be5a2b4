namespace Microsoft.ML.Clip.Imaging;

/// <summary>How an image of any shape becomes the square the vision tower expects.</summary>
public enum ClipResizeMode
{
    /// <summary>
    /// open_clip's evaluation default: resize so the shorter side equals the image size (torchvision
    /// <c>Resize(size)</c>; the long side becomes <c>int(size * long / short)</c>), then take the centre square
    /// (torchvision <c>CenterCrop</c>). Keeps the aspect ratio and drops the edges of the long side.
    /// </summary>
    ShortestSideCenterCrop = 0,

    /// <summary>
    /// open_clip's <c>resize_mode='squash'</c>: resize both sides to the image size, distorting the aspect ratio
    /// but keeping the whole picture.
    /// </summary>
    Squash = 1,
}
