namespace Microsoft.ML.Clip.SampleData;

/// <summary>
/// Cells of a 3×3 grid over the image. A shape's centre is drawn near the cell's centre (at 20 %, 50 % or 80 % of
/// the side, with a small jitter) and then moved inwards just enough for the shape to stay inside the image.
/// </summary>
public enum ShapePosition
{
    /// <summary>Upper-left cell (<c>top left</c>).</summary>
    TopLeft,
    /// <summary>Upper-middle cell (<c>top</c>).</summary>
    Top,
    /// <summary>Upper-right cell (<c>top right</c>).</summary>
    TopRight,
    /// <summary>Middle-left cell (<c>left</c>).</summary>
    Left,
    /// <summary>Middle cell (<c>center</c>).</summary>
    Center,
    /// <summary>Middle-right cell (<c>right</c>).</summary>
    Right,
    /// <summary>Lower-left cell (<c>bottom left</c>).</summary>
    BottomLeft,
    /// <summary>Lower-middle cell (<c>bottom</c>).</summary>
    Bottom,
    /// <summary>Lower-right cell (<c>bottom right</c>).</summary>
    BottomRight,
}
