using System.Collections.Generic;

namespace Microsoft.ML.Clip.SampleData;

/// <summary>
/// What <see cref="ShapesDataset"/> generates. Every example is a function of (<see cref="Seed"/>,
/// <see cref="Split"/>, index) and these options, so the same options give the same pixels on every machine.
/// </summary>
/// <remarks>
/// Use different seeds for training and evaluation sets of the same split: two sets with the same seed and
/// split are identical. Different splits are drawn independently even with the same seed (the split is mixed
/// into each example's seed).
/// </remarks>
public sealed class ShapesDatasetOptions
{
    /// <summary>Shapes drawn when <see cref="Shapes"/> is null: circle, square, triangle, star, cross, heart.</summary>
    public static IReadOnlyList<ShapeKind> DefaultShapes { get; } =
        [ShapeKind.Circle, ShapeKind.Square, ShapeKind.Triangle, ShapeKind.Star, ShapeKind.Cross, ShapeKind.Heart];

    /// <summary>Colours used when <see cref="Colours"/> is null: red, green, blue, yellow, purple, orange, white.</summary>
    public static IReadOnlyList<ShapeColour> DefaultColours { get; } =
        [ShapeColour.Red, ShapeColour.Green, ShapeColour.Blue, ShapeColour.Yellow, ShapeColour.Purple, ShapeColour.Orange, ShapeColour.White];

    /// <summary>Sizes used when <see cref="Sizes"/> is null: small and large.</summary>
    public static IReadOnlyList<ShapeSize> DefaultSizes { get; } = [ShapeSize.Small, ShapeSize.Large];

    /// <summary>Positions used when <see cref="Positions"/> is null: all nine cells of the 3×3 grid.</summary>
    public static IReadOnlyList<ShapePosition> DefaultPositions { get; } =
    [
        ShapePosition.TopLeft, ShapePosition.Top, ShapePosition.TopRight,
        ShapePosition.Left, ShapePosition.Center, ShapePosition.Right,
        ShapePosition.BottomLeft, ShapePosition.Bottom, ShapePosition.BottomRight,
    ];

    /// <summary>Width and height of the square images in pixels, 16 to 1024. Default 64.</summary>
    public int ImageSize { get; set; } = 64;

    /// <summary>Number of examples in the split. Default 10,000.</summary>
    public long Count { get; set; } = 10_000;

    /// <summary>Seed of the whole set. Default 0.</summary>
    public int Seed { get; set; }

    /// <summary>Which combinations the set may contain. Default <see cref="ShapesSplit.Train"/>.</summary>
    public ShapesSplit Split { get; set; } = ShapesSplit.Train;

    /// <summary>
    /// Shapes to draw; null for <see cref="DefaultShapes"/>. Each image's (shape, colour) pair is drawn uniformly
    /// from the pairs of <see cref="Shapes"/> × <see cref="Colours"/> that the split allows.
    /// </summary>
    public IReadOnlyList<ShapeKind>? Shapes { get; set; }

    /// <summary>Colours to use; null for <see cref="DefaultColours"/>.</summary>
    public IReadOnlyList<ShapeColour>? Colours { get; set; }

    /// <summary>Size classes to use; null for <see cref="DefaultSizes"/>.</summary>
    public IReadOnlyList<ShapeSize>? Sizes { get; set; }

    /// <summary>Grid cells to use; null for <see cref="DefaultPositions"/>.</summary>
    public IReadOnlyList<ShapePosition>? Positions { get; set; }

    /// <summary>
    /// (shape, colour) pairs that never appear in the <see cref="ShapesSplit.Train"/> split and make up the
    /// <see cref="ShapesSplit.HeldOut"/> split. Null for the default set
    /// (<see cref="ShapesDataset.DefaultHeldOutPairs"/>: one colour per shape); empty to hold nothing out.
    /// Every pair must use one of <see cref="Shapes"/> and one of <see cref="Colours"/>.
    /// </summary>
    public IReadOnlyList<ShapeColourPair>? HeldOutPairs { get; set; }

    /// <summary>
    /// Shapes per image, 1 to 3. Default 1. With more than one the caption names all of them (in a random
    /// order), they sit in different grid cells, and the labels describe the primary one.
    /// </summary>
    public int ObjectsPerImage { get; set; } = 1;

    /// <summary>
    /// Amplitude of the grey per-pixel noise added to the whole image, in 8-bit levels (0 for clean images, at
    /// most 64). Default 4: enough that no two backgrounds are alike, small enough to keep colours unmistakable.
    /// </summary>
    public int NoiseLevel { get; set; } = 4;

    /// <summary>
    /// True (default) for captions drawn from many templates and a few synonyms; false for one canonical
    /// caption per image (<c>a small red circle on the left</c>), useful for retrieval evaluation.
    /// </summary>
    public bool VariedCaptions { get; set; } = true;
}
