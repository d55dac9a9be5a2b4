using System;

namespace Microsoft.ML.Clip.SampleData;

/// <summary>
/// The canonical English words for the dataset's attributes: what the structured columns hold and what class
/// names and captions use (captions may also use a few synonyms for sizes and positions).
/// </summary>
public static class ShapesVocabulary
{
    /// <summary>The shape's word: <c>circle</c>, <c>square</c>, <c>triangle</c>, <c>star</c>, <c>cross</c>, <c>heart</c>, <c>hexagon</c>, <c>diamond</c>.</summary>
    public static string Name(ShapeKind shape) => shape switch
    {
        ShapeKind.Circle => "circle",
        ShapeKind.Square => "square",
        ShapeKind.Triangle => "triangle",
        ShapeKind.Star => "star",
        ShapeKind.Cross => "cross",
        ShapeKind.Heart => "heart",
        ShapeKind.Hexagon => "hexagon",
        ShapeKind.Diamond => "diamond",
        _ => throw new ArgumentOutOfRangeException(nameof(shape), shape, null),
    };

    /// <summary>The colour's word: <c>red</c>, <c>green</c>, <c>blue</c>, ...</summary>
    public static string Name(ShapeColour colour) => colour switch
    {
        ShapeColour.Red => "red",
        ShapeColour.Green => "green",
        ShapeColour.Blue => "blue",
        ShapeColour.Yellow => "yellow",
        ShapeColour.Purple => "purple",
        ShapeColour.Orange => "orange",
        ShapeColour.White => "white",
        ShapeColour.Cyan => "cyan",
        ShapeColour.Pink => "pink",
        _ => throw new ArgumentOutOfRangeException(nameof(colour), colour, null),
    };

    /// <summary>The size's word: <c>small</c>, <c>medium</c>, <c>large</c>.</summary>
    public static string Name(ShapeSize size) => size switch
    {
        ShapeSize.Small => "small",
        ShapeSize.Medium => "medium",
        ShapeSize.Large => "large",
        _ => throw new ArgumentOutOfRangeException(nameof(size), size, null),
    };

    /// <summary>The position's words: <c>top left</c>, <c>top</c>, ..., <c>center</c>, ..., <c>bottom right</c>.</summary>
    public static string Name(ShapePosition position) => position switch
    {
        ShapePosition.TopLeft => "top left",
        ShapePosition.Top => "top",
        ShapePosition.TopRight => "top right",
        ShapePosition.Left => "left",
        ShapePosition.Center => "center",
        ShapePosition.Right => "right",
        ShapePosition.BottomLeft => "bottom left",
        ShapePosition.Bottom => "bottom",
        ShapePosition.BottomRight => "bottom right",
        _ => throw new ArgumentOutOfRangeException(nameof(position), position, null),
    };

    /// <summary>The class name of a combination, colour first: <c>red circle</c>.</summary>
    public static string ClassName(ShapeKind shape, ShapeColour colour) => Name(colour) + " " + Name(shape);
}
