using System;

namespace Microsoft.ML.Clip.SampleData.Shapes;

/// <summary>
/// The shapes as scanline spans in unit coordinates: centred on the origin, y pointing down, each
/// filling roughly the square [-1, 1]² so that one "size" looks alike across kinds. Only +, −, ×, ÷ and square
/// roots are used (IEEE-exact in .NET, no fused multiply-add), never sin/cos, whose last bits differ between
/// C runtimes: the same inputs give the same answers on every machine.
/// </summary>
internal static class ShapeGeometry
{
    // cos/sin of 18° and 54°: the star's vertices lie on these angles.
    private const double Cos18 = 0.95105651629515357;
    private const double Sin18 = 0.30901699437494742;
    private const double Cos54 = 0.58778525229247314;
    private const double Sin54 = 0.80901699437494742;
    private const double StarInner = 0.45;       // inner/outer radius; the classic 0.38 is too thin at 10 px
    private const double StarShift = 0.0955;     // moves the star down so its box [-1, 0.81] is centred
    private const double Sqrt3Over2 = 0.86602540378443865;
    private const double Sqrt3 = 1.7320508075688772;
    private const double InvSqrt3 = 0.57735026918962576;
    private const double SquareHalf = 0.86;      // a square's corners reach further than a circle: keep areas close
    private const double CrossHalfWidth = 0.32;
    private const double CrossHalfLength = 0.95;
    private const double TriangleTop = -0.93;    // equilateral, side 2: height √3, box centred
    private const double TriangleBottom = 0.80;
    private const double HeartLobeX = 0.5;
    private const double HeartLobeY = -0.38;
    private const double HeartLobeRadius = 0.5;
    private const double HeartTipY = 0.92;

    private static readonly double[] StarX =
    [
        0, Cos54 * StarInner, Cos18, Cos18 * StarInner, Cos54, 0, -Cos54, -Cos18 * StarInner, -Cos18, -Cos54 * StarInner,
    ];

    private static readonly double[] StarY =
    [
        -1 + StarShift, -Sin54 * StarInner + StarShift, -Sin18 + StarShift, Sin18 * StarInner + StarShift, Sin54 + StarShift,
        StarInner + StarShift, Sin54 + StarShift, Sin18 * StarInner + StarShift, -Sin18 + StarShift, -Sin54 * StarInner + StarShift,
    ];

    // The heart's lower part: tip, the tangent point on the right lobe, the two lobe centres, the left tangent point.
    private static readonly double[] HeartX;
    private static readonly double[] HeartY;

    static ShapeGeometry()
    {
        // Tangent from the tip P to the right lobe (centre C, radius r): T = C + (r²/d²)·v + (r·√(d² − r²)/d²)·v⊥,
        // with v = P − C and v⊥ = (v.y, −v.x), the perpendicular that points outwards.
        double vx = 0 - HeartLobeX, vy = HeartTipY - HeartLobeY;
        double d2 = vx * vx + vy * vy;
        double r = HeartLobeRadius;
        double along = r * r / d2, across = r * Math.Sqrt(d2 - r * r) / d2;
        double tx = HeartLobeX + along * vx + across * vy;
        double ty = HeartLobeY + along * vy - across * vx;
        HeartX = [0, tx, HeartLobeX, -HeartLobeX, -tx];
        HeartY = [HeartTipY, ty, HeartLobeY, HeartLobeY, ty];
    }

    /// <summary>Most spans one scanline of any shape can have (the star's row through two points, merged lobes).</summary>
    public const int MaxSpans = 4;

    /// <summary>
    /// The parts of the horizontal line at height <paramref name="y"/> that lie inside the shape, as sorted,
    /// disjoint intervals [starts[i], ends[i]] in unit coordinates.
    /// </summary>
    /// <returns>The number of intervals written (0 when the line misses the shape).</returns>
    public static int Spans(ShapeKind shape, double y, Span<double> starts, Span<double> ends)
    {
        double ay = Math.Abs(y);
        switch (shape)
        {
            case ShapeKind.Circle:
                return ay <= 1 ? Symmetric(Math.Sqrt(1 - y * y), starts, ends) : 0;
            case ShapeKind.Square:
                return ay <= SquareHalf ? Symmetric(SquareHalf, starts, ends) : 0;
            case ShapeKind.Diamond:
                return ay <= 1 ? Symmetric(1 - ay, starts, ends) : 0;
            case ShapeKind.Triangle:
                // An apex at the top: the half-width grows by 1/√3 per unit of height down to the base.
                return y >= TriangleTop && y <= TriangleBottom ? Symmetric((y - TriangleTop) * InvSqrt3, starts, ends) : 0;
            case ShapeKind.Hexagon:
                // Vertical sides at ±√3/2, slanted sides |y| = 1 − |x|/√3.
                return ay <= 1 ? Symmetric(Math.Min(Sqrt3Over2, (1 - ay) * Sqrt3), starts, ends) : 0;
            case ShapeKind.Cross:
                if (ay <= CrossHalfWidth)
                    return Symmetric(CrossHalfLength, starts, ends);
                return ay <= CrossHalfLength ? Symmetric(CrossHalfWidth, starts, ends) : 0;
            case ShapeKind.Star:
                return PolygonSpans(StarX, StarY, y, starts, ends);
            case ShapeKind.Heart:
            {
                int count = PolygonSpans(HeartX, HeartY, y, starts, ends);
                count = AddLobe(HeartLobeX, y, starts, ends, count);
                return AddLobe(-HeartLobeX, y, starts, ends, count);
            }
            default:
                throw new ArgumentOutOfRangeException(nameof(shape), shape, null);
        }
    }

    private static int Symmetric(double halfWidth, Span<double> starts, Span<double> ends)
    {
        starts[0] = -halfWidth;
        ends[0] = halfWidth;
        return 1;
    }

    /// <summary>Adds the chord of a heart lobe to the spans, merging it with any it overlaps.</summary>
    private static int AddLobe(double centreX, double y, Span<double> starts, Span<double> ends, int count)
    {
        double dy = y - HeartLobeY;
        double r2 = HeartLobeRadius * HeartLobeRadius;
        if (dy * dy > r2)
            return count;
        double h = Math.Sqrt(r2 - dy * dy);
        return Union(centreX - h, centreX + h, starts, ends, count);
    }

    /// <summary>Inserts [a, b] into sorted disjoint spans, merging overlaps; they stay sorted and disjoint.</summary>
    private static int Union(double a, double b, Span<double> starts, Span<double> ends, int count)
    {
        int i = count;
        for (; i > 0 && starts[i - 1] > a; i--)
        {
            starts[i] = starts[i - 1];
            ends[i] = ends[i - 1];
        }
        starts[i] = a;
        ends[i] = b;
        count++;
        int last = 0;
        for (int k = 1; k < count; k++)
        {
            if (starts[k] <= ends[last])
                ends[last] = Math.Max(ends[last], ends[k]);
            else
            {
                last++;
                starts[last] = starts[k];
                ends[last] = ends[k];
            }
        }
        return last + 1;
    }

    /// <summary>
    /// Even–odd spans of a polygon on one line: the x of every edge the line crosses (half-open in y, so a
    /// vertex on the line counts once), sorted, taken in pairs.
    /// </summary>
    private static int PolygonSpans(double[] xs, double[] ys, double y, Span<double> starts, Span<double> ends)
    {
        Span<double> crossings = stackalloc double[2 * MaxSpans];
        int n = 0;
        for (int i = 0, j = xs.Length - 1; i < xs.Length && n < crossings.Length; j = i++)
        {
            if ((ys[i] > y) != (ys[j] > y))
                crossings[n++] = xs[j] + (y - ys[j]) * (xs[i] - xs[j]) / (ys[i] - ys[j]);
        }
        crossings[..n].Sort();
        for (int k = 0; k + 1 < n; k += 2)
        {
            starts[k / 2] = crossings[k];
            ends[k / 2] = crossings[k + 1];
        }
        return n / 2;
    }
}
