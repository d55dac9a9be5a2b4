namespace Microsoft.ML.Clip.SampleData;

/// <summary>One shape drawn in an image, as its caption describes it.</summary>
/// <param name="Shape">The shape.</param>
/// <param name="Colour">The fill colour.</param>
/// <param name="Size">The size class.</param>
/// <param name="Position">The grid cell that holds the shape's centre.</param>
public sealed record ShapeObject(ShapeKind Shape, ShapeColour Colour, ShapeSize Size, ShapePosition Position)
{
    /// <summary>The (shape, colour) combination.</summary>
    public ShapeColourPair Pair => new(Shape, Colour);
}
