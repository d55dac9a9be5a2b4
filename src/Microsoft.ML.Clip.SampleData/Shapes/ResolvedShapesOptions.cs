using System;
using System.Collections.Generic;
using System.Linq;

namespace Microsoft.ML.Clip.SampleData.Shapes;

/// <summary>
/// <see cref="ShapesDatasetOptions"/> checked once and frozen: defaults filled in, lists copied (so later edits
/// to the options cannot change a data view that is already streaming), and the pair pools of the split.
/// </summary>
internal sealed class ResolvedShapesOptions
{
    public const int MinImageSize = 16;
    public const int MaxImageSize = 1024;
    public const int MaxObjectsPerImage = 3;
    public const int MaxNoiseLevel = 64;

    private ResolvedShapesOptions(ShapesDatasetOptions options)
    {
        ImageSize = options.ImageSize;
        Count = options.Count;
        Seed = options.Seed;
        Split = options.Split;
        ObjectsPerImage = options.ObjectsPerImage;
        NoiseLevel = options.NoiseLevel;
        VariedCaptions = options.VariedCaptions;
        Shapes = Distinct(options.Shapes ?? ShapesDatasetOptions.DefaultShapes, nameof(options.Shapes));
        Colours = Distinct(options.Colours ?? ShapesDatasetOptions.DefaultColours, nameof(options.Colours));
        Sizes = Distinct(options.Sizes ?? ShapesDatasetOptions.DefaultSizes, nameof(options.Sizes));
        Positions = Distinct(options.Positions ?? ShapesDatasetOptions.DefaultPositions, nameof(options.Positions));
        HeldOut = options.HeldOutPairs is null ? DefaultHeldOut(Shapes, Colours) : CheckHeldOut(options.HeldOutPairs);

        var heldOut = new HashSet<ShapeColourPair>(HeldOut);
        AllPairs = Shapes.SelectMany(s => Colours.Select(c => new ShapeColourPair(s, c))).ToArray();
        ShapeColourPair[] trainPairs = AllPairs.Where(p => !heldOut.Contains(p)).ToArray();
        (PrimaryPool, OtherPool) = Split switch
        {
            ShapesSplit.Train => (trainPairs, trainPairs),
            ShapesSplit.HeldOut => (HeldOut, AllPairs),
            ShapesSplit.All => (AllPairs, AllPairs),
            _ => throw new ArgumentOutOfRangeException(nameof(options), Split, "Unknown split."),
        };
        if (PrimaryPool.Length == 0)
            throw new ArgumentException(Split == ShapesSplit.Train
                ? "Every (shape, colour) pair is held out: the train split would be empty."
                : "No (shape, colour) pair is held out: the held-out split would be empty.", nameof(options));
    }

    public int ImageSize { get; }
    public long Count { get; }
    public int Seed { get; }
    public ShapesSplit Split { get; }
    public int ObjectsPerImage { get; }
    public int NoiseLevel { get; }
    public bool VariedCaptions { get; }
    public ShapeKind[] Shapes { get; }
    public ShapeColour[] Colours { get; }
    public ShapeSize[] Sizes { get; }
    public ShapePosition[] Positions { get; }
    public ShapeColourPair[] HeldOut { get; }
    public ShapeColourPair[] AllPairs { get; }

    /// <summary>Pairs the primary shape is drawn from.</summary>
    public ShapeColourPair[] PrimaryPool { get; }

    /// <summary>Pairs the other shapes are drawn from.</summary>
    public ShapeColourPair[] OtherPool { get; }

    public static ResolvedShapesOptions From(ShapesDatasetOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (options.ImageSize < MinImageSize || options.ImageSize > MaxImageSize)
            throw new ArgumentOutOfRangeException(nameof(options), options.ImageSize,
                $"{nameof(options.ImageSize)} must be between {MinImageSize} and {MaxImageSize}.");
        if (options.Count < 0)
            throw new ArgumentOutOfRangeException(nameof(options), options.Count, $"{nameof(options.Count)} must not be negative.");
        if (options.ObjectsPerImage < 1 || options.ObjectsPerImage > MaxObjectsPerImage)
            throw new ArgumentOutOfRangeException(nameof(options), options.ObjectsPerImage,
                $"{nameof(options.ObjectsPerImage)} must be between 1 and {MaxObjectsPerImage}.");
        if (options.NoiseLevel < 0 || options.NoiseLevel > MaxNoiseLevel)
            throw new ArgumentOutOfRangeException(nameof(options), options.NoiseLevel,
                $"{nameof(options.NoiseLevel)} must be between 0 and {MaxNoiseLevel}.");
        var resolved = new ResolvedShapesOptions(options);
        if (resolved.Positions.Length < resolved.ObjectsPerImage)
            throw new ArgumentException(
                $"{nameof(options.ObjectsPerImage)} is {resolved.ObjectsPerImage} but only {resolved.Positions.Length} positions are allowed: shapes need cells of their own.",
                nameof(options));
        return resolved;
    }

    /// <summary>
    /// One held-out colour per shape: shape <c>i</c> loses colour <c>(2i + 1) mod m</c> (<c>(i + 1) mod m</c>
    /// when the colour count <c>m</c> is even, so that the held-out colours still differ). With the defaults:
    /// green circle, yellow square, orange triangle, red star, blue cross, purple heart. Every shape and
    /// (given two shapes or more) every colour still appears in training, only not together.
    /// </summary>
    public static ShapeColourPair[] DefaultHeldOut(IReadOnlyList<ShapeKind> shapes, IReadOnlyList<ShapeColour> colours)
    {
        int m = colours.Count;
        if (m < 2)
            return [];
        int step = m % 2 == 1 ? 2 : 1;
        return shapes.Select((s, i) => new ShapeColourPair(s, colours[(step * i + 1) % m])).ToArray();
    }

    private T[] Distinct<T>(IReadOnlyList<T> values, string name) where T : struct, Enum
    {
        if (values.Count == 0)
            throw new ArgumentException($"{name} must not be empty.", "options");
        foreach (T value in values)
            if (!Enum.IsDefined(value))
                throw new ArgumentException($"{name} holds an unknown value {value}.", "options");
        if (values.Distinct().Count() != values.Count)
            throw new ArgumentException($"{name} must not repeat a value.", "options");
        return values.ToArray();
    }

    private ShapeColourPair[] CheckHeldOut(IReadOnlyList<ShapeColourPair> pairs)
    {
        foreach (var pair in pairs)
            if (!Shapes.Contains(pair.Shape) || !Colours.Contains(pair.Colour))
                throw new ArgumentException(
                    $"Held-out pair '{pair}' uses a shape or colour that the options do not draw.", "options");
        return pairs.Distinct().ToArray();
    }
}
