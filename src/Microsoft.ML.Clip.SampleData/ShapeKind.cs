namespace Microsoft.ML.Clip.SampleData;

/// <summary>The kinds of shape the coloured-shapes dataset draws. Captions use the lower-case names (<c>circle</c>, ...).</summary>
public enum ShapeKind
{
    /// <summary>A filled disc.</summary>
    Circle,
    /// <summary>An axis-aligned filled square.</summary>
    Square,
    /// <summary>An equilateral triangle pointing up.</summary>
    Triangle,
    /// <summary>A five-pointed star, one point up.</summary>
    Star,
    /// <summary>A plus sign: two crossing bars of equal length.</summary>
    Cross,
    /// <summary>A heart: two lobes on top of a point.</summary>
    Heart,
    /// <summary>A regular hexagon with a vertex up. Not in the default set: at small sizes it is close to a circle.</summary>
    Hexagon,
    /// <summary>A square turned 45°. Not in the default set.</summary>
    Diamond,
}
