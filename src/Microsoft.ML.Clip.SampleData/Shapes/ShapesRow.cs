using System.Collections.Generic;
using System.IO;
using Microsoft.ML.Clip.Imaging;
using Microsoft.ML.Data;

namespace Microsoft.ML.Clip.SampleData.Shapes;

/// <summary>One row of a shapes data view: labels at once, pixels only when a getter asks for them.</summary>
internal abstract class ShapesRow
{
    public abstract string Caption { get; }

    public abstract IReadOnlyList<ShapeObject> Objects { get; }

    /// <summary>The PNG bytes (made once per row).</summary>
    public abstract byte[] Png { get; }

    /// <summary>A new image the caller owns.</summary>
    public abstract MLImage CreateImage();
}

/// <summary>A row made from a sampled scene: rendered on first use, PNG-encoded only if the bytes are asked for.</summary>
internal sealed class SceneRow(ShapeScene scene) : ShapesRow
{
    private byte[]? _rgba;
    private byte[]? _png;

    public override string Caption => scene.Caption;

    public override IReadOnlyList<ShapeObject> Objects => scene.Objects;

    private byte[] Rgba => _rgba ??= ShapeRasterizer.RenderRgba(scene);

    public override byte[] Png => _png ??= PngEncoder.EncodeRgba(Rgba, scene.ImageSize, scene.ImageSize);

    // Straight from the pixels: no PNG round trip, and PNG is lossless so the pixels are the same.
    public override MLImage CreateImage() => MLImage.CreateFromPixels(scene.ImageSize, scene.ImageSize, MLPixelFormat.Rgba32, Rgba);
}

/// <summary>A row over an existing <see cref="ShapeExample"/>: its image is decoded from the PNG on demand.</summary>
internal sealed class ExampleRow(ShapeExample example) : ShapesRow
{
    public override string Caption => example.Caption;

    public override IReadOnlyList<ShapeObject> Objects => example.Objects;

    public override byte[] Png => example.ImageBytes;

    public override MLImage CreateImage()
    {
        using var stream = new MemoryStream(example.ImageBytes, writable: false);
        return MLImage.CreateFromStream(stream);
    }
}
