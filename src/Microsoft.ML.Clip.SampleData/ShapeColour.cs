namespace Microsoft.ML.Clip.SampleData;

/// <summary>
/// Fill colours of the coloured-shapes dataset, chosen far apart in RGB so that a small jitter per image never
/// makes one look like another. Captions use the lower-case names (<c>red</c>, ...).
/// </summary>
public enum ShapeColour
{
    /// <summary>RGB about (220, 35, 35).</summary>
    Red,
    /// <summary>RGB about (40, 175, 60).</summary>
    Green,
    /// <summary>RGB about (45, 85, 235).</summary>
    Blue,
    /// <summary>RGB about (245, 220, 40).</summary>
    Yellow,
    /// <summary>RGB about (150, 55, 205).</summary>
    Purple,
    /// <summary>RGB about (255, 135, 20).</summary>
    Orange,
    /// <summary>RGB about (240, 240, 240).</summary>
    White,
    /// <summary>RGB about (40, 210, 225). Not in the default set.</summary>
    Cyan,
    /// <summary>RGB about (250, 130, 190). Not in the default set.</summary>
    Pink,
}
