using System;

namespace Microsoft.ML.Clip.SampleData.Shapes;

/// <summary>
/// Renders a <see cref="ShapeScene"/> into RGBA pixels in managed code. Anti-aliasing takes 8 scanlines per
/// pixel row and covers each exactly in x (the shape's spans on the line, clipped to the pixel), so edges get
/// smooth coverage at little cost. Only IEEE-exact double arithmetic and integer blending are used, so the
/// pixels are identical on every CPU and OS; a native rasterizer such as Skia's picks SIMD paths by CPU and
/// gives no such promise.
/// </summary>
internal static class ShapeRasterizer
{
    private const int LinesPerPixel = 8;

    /// <summary>Bytes per pixel of the returned buffer (R, G, B, A; A is always 255).</summary>
    public const int Channels = 4;

    public static byte[] RenderRgba(ShapeScene scene)
    {
        int side = scene.ImageSize;
        var pixels = new byte[side * side * Channels];
        Fill(pixels, scene.Background);
        var coverage = new double[side];
        foreach (var shape in scene.Placed)
            Draw(pixels, side, shape, coverage);
        AddNoise(pixels, scene.NoiseLevel, scene.NoiseSeed);
        return pixels;
    }

    private static void Fill(byte[] pixels, byte grey)
    {
        for (int i = 0; i < pixels.Length; i += Channels)
        {
            pixels[i] = grey;
            pixels[i + 1] = grey;
            pixels[i + 2] = grey;
            pixels[i + 3] = 255;
        }
    }

    private static void Draw(byte[] pixels, int side, PlacedShape shape, double[] coverage)
    {
        // Every unit shape lies inside [-1, 1]², so only rows within one radius of the centre can be touched.
        int y0 = Math.Max(0, (int)Math.Floor(shape.CenterY - shape.Radius));
        int y1 = Math.Min(side - 1, (int)Math.Ceiling(shape.CenterY + shape.Radius));
        double inverseRadius = 1.0 / shape.Radius;
        Span<double> starts = stackalloc double[ShapeGeometry.MaxSpans];
        Span<double> ends = stackalloc double[ShapeGeometry.MaxSpans];

        for (int py = y0; py <= y1; py++)
        {
            Array.Clear(coverage);
            int first = side, last = -1;
            for (int line = 0; line < LinesPerPixel; line++)
            {
                double y = py + (line + 0.5) / LinesPerPixel;
                int spans = ShapeGeometry.Spans(shape.Shape, (y - shape.CenterY) * inverseRadius, starts, ends);
                for (int s = 0; s < spans; s++)
                {
                    double a = Math.Max(0, shape.CenterX + starts[s] * shape.Radius);
                    double b = Math.Min(side, shape.CenterX + ends[s] * shape.Radius);
                    if (b <= a)
                        continue;
                    Accumulate(coverage, a, b, side);
                    first = Math.Min(first, (int)Math.Floor(a));
                    last = Math.Max(last, Math.Min(side - 1, (int)Math.Floor(b)));
                }
            }
            for (int px = first; px <= last; px++)
            {
                // Coverage as a weight out of 256, rounded; the blend is then integer arithmetic.
                int weight = Math.Clamp((int)(coverage[px] * (256.0 / LinesPerPixel) + 0.5), 0, 256);
                if (weight == 0)
                    continue;
                int i = (py * side + px) * Channels;
                pixels[i] = Blend(pixels[i], shape.R, weight);
                pixels[i + 1] = Blend(pixels[i + 1], shape.G, weight);
                pixels[i + 2] = Blend(pixels[i + 2], shape.B, weight);
            }
        }
    }

    /// <summary>Adds to each pixel the length of [a, b] that falls inside it (0 ≤ a &lt; b ≤ side).</summary>
    private static void Accumulate(double[] coverage, double a, double b, int side)
    {
        int ia = (int)Math.Floor(a), ib = (int)Math.Floor(b);
        if (ia == ib)
        {
            coverage[ia] += b - a;
            return;
        }
        coverage[ia] += ia + 1 - a;
        for (int p = ia + 1; p < ib; p++)
            coverage[p] += 1;
        if (ib < side)
            coverage[ib] += b - ib;
    }

    /// <summary>Rounded integer mix of <paramref name="under"/> and <paramref name="over"/>, weight out of 256.</summary>
    private static byte Blend(byte under, byte over, int weight) =>
        (byte)((under * (256 - weight) + over * weight + 128) >> 8);

    /// <summary>Adds the same uniform offset in [-level, level] to a pixel's three channels (grey noise, hue kept).</summary>
    private static void AddNoise(byte[] pixels, int level, ulong seed)
    {
        if (level == 0)
            return;
        var rng = new DeterministicRandom(seed);
        int span = 2 * level + 1;
        for (int i = 0; i < pixels.Length; i += Channels)
        {
            int offset = rng.NextInt(span) - level;
            pixels[i] = (byte)Math.Clamp(pixels[i] + offset, 0, 255);
            pixels[i + 1] = (byte)Math.Clamp(pixels[i + 1] + offset, 0, 255);
            pixels[i + 2] = (byte)Math.Clamp(pixels[i + 2] + offset, 0, 255);
        }
    }
}
