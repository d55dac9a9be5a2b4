using System;
using System.Collections.Generic;

namespace Microsoft.ML.Clip.SampleData.Shapes;

/// <summary>
/// Draws the scene of example <c>index</c> from its own generators, so any example can be made alone, in any
/// order, on any thread, with the same result. The order of the draws below is part of the dataset's
/// definition: changing it changes every image.
/// </summary>
internal static class ShapeSceneSampler
{
    // Independent streams, so that caption settings never change pixels and the other way round.
    private const ulong SceneStream = 1;
    private const ulong CaptionStream = 2;

    private const double CellJitter = 0.04;      // fraction of the side a centre may move from its cell's centre
    private const int BackgroundMin = 24;        // dark to mid grey: every default colour stands out
    private const int BackgroundMax = 80;

    public static ShapeScene Sample(ResolvedShapesOptions options, long index)
    {
        ulong splitSalt = 16UL * (ulong)options.Split;
        var rng = DeterministicRandom.ForExample(options.Seed, SceneStream + splitSalt, index);

        int n = options.ObjectsPerImage;
        var objects = new ShapeObject[n];
        var positions = new List<ShapePosition>(n);
        for (int i = 0; i < n; i++)
        {
            ShapeColourPair[] pool = i == 0 ? options.PrimaryPool : options.OtherPool;
            ShapeColourPair pair = pool[rng.NextInt(pool.Length)];
            ShapeSize size = options.Sizes[rng.NextInt(options.Sizes.Length)];
            ShapePosition position = PickPosition(options.Positions, positions, ref rng);
            positions.Add(position);
            objects[i] = new ShapeObject(pair.Shape, pair.Colour, size, position);
        }

        int side = options.ImageSize;
        var placed = new PlacedShape[n];
        for (int i = 0; i < n; i++)
        {
            var o = objects[i];
            var (min, max) = ExtentRange(o.Size);
            double radius = rng.NextDouble(min, max) * side / 2;
            int cell = (int)o.Position;
            double cx = (CellCentre(cell % 3) + rng.NextDouble(-CellJitter, CellJitter)) * side;
            double cy = (CellCentre(cell / 3) + rng.NextDouble(-CellJitter, CellJitter)) * side;
            cx = Math.Clamp(cx, radius, side - radius);
            cy = Math.Clamp(cy, radius, side - radius);
            var (r, g, b) = ShapesPalette.Base(o.Colour);
            int brightness = rng.NextInt(-ShapesPalette.BrightnessJitter, ShapesPalette.BrightnessJitter);
            placed[i] = new PlacedShape(o.Shape, cx, cy, radius,
                JitterChannel(r, brightness, ref rng), JitterChannel(g, brightness, ref rng), JitterChannel(b, brightness, ref rng));
        }

        byte background = (byte)rng.NextInt(BackgroundMin, BackgroundMax);
        ulong noiseSeed = rng.NextUInt64();

        var captionRng = DeterministicRandom.ForExample(options.Seed, CaptionStream + splitSalt, index);
        string caption = ShapeCaptions.Write(objects, options.VariedCaptions, ref captionRng);
        return new ShapeScene(index, side, objects, placed, background, options.NoiseLevel, noiseSeed, caption);
    }

    /// <summary>
    /// Extent (diameter) range of a size class, as a fraction of the image side. Small shapes stay about 6 px
    /// wide at 32 px, enough to tell a star from a circle; large ones are about twice that.
    /// </summary>
    public static (double Min, double Max) ExtentRange(ShapeSize size) => size switch
    {
        ShapeSize.Small => (0.18, 0.23),
        ShapeSize.Medium => (0.27, 0.32),
        ShapeSize.Large => (0.36, 0.42),
        _ => throw new ArgumentOutOfRangeException(nameof(size), size, null),
    };

    private static double CellCentre(int i) => i switch { 0 => 0.2, 1 => 0.5, _ => 0.8 };

    private static byte JitterChannel(byte value, int brightness, ref DeterministicRandom rng) =>
        (byte)Math.Clamp(value + brightness + rng.NextInt(-ShapesPalette.ChannelJitter, ShapesPalette.ChannelJitter), 0, 255);

    /// <summary>
    /// A free cell, preferring cells two steps away from every taken one (no shared border, so even two large
    /// shapes do not overlap); any free cell when the allowed positions leave no such choice.
    /// </summary>
    private static ShapePosition PickPosition(ShapePosition[] allowed, List<ShapePosition> taken, ref DeterministicRandom rng)
    {
        if (taken.Count == 0)
            return allowed[rng.NextInt(allowed.Length)];
        Span<int> far = stackalloc int[allowed.Length];
        Span<int> free = stackalloc int[allowed.Length];
        int farCount = 0, freeCount = 0;
        for (int i = 0; i < allowed.Length; i++)
        {
            if (taken.Contains(allowed[i]))
                continue;
            free[freeCount++] = i;
            bool isFar = true;
            foreach (var t in taken)
            {
                int a = (int)allowed[i], b = (int)t;
                if (Math.Max(Math.Abs(a / 3 - b / 3), Math.Abs(a % 3 - b % 3)) < 2)
                    isFar = false;
            }
            if (isFar)
                far[farCount++] = i;
        }
        return farCount > 0 ? allowed[far[rng.NextInt(farCount)]] : allowed[free[rng.NextInt(freeCount)]];
    }
}
