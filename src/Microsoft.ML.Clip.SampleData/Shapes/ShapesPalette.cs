using System;

namespace Microsoft.ML.Clip.SampleData.Shapes;

/// <summary>Base RGB of each <see cref="ShapeColour"/> and the per-image jitter around it.</summary>
internal static class ShapesPalette
{
    /// <summary>
    /// Per image, all three channels move together by at most this much (lighter or darker)...
    /// </summary>
    public const int BrightnessJitter = 10;

    /// <summary>
    /// ...and each channel by at most this much on its own: small enough that white never looks tinted. The
    /// closest default colours (red/orange, orange/yellow) differ by 80+ in one channel, so a jittered colour
    /// stays nearest its own base.
    /// </summary>
    public const int ChannelJitter = 6;

    public static (byte R, byte G, byte B) Base(ShapeColour colour) => colour switch
    {
        ShapeColour.Red => (220, 35, 35),
        ShapeColour.Green => (40, 175, 60),
        ShapeColour.Blue => (45, 85, 235),
        ShapeColour.Yellow => (245, 220, 40),
        ShapeColour.Purple => (150, 55, 205),
        ShapeColour.Orange => (255, 135, 20),
        ShapeColour.White => (240, 240, 240),
        ShapeColour.Cyan => (40, 210, 225),
        ShapeColour.Pink => (250, 130, 190),
        _ => throw new ArgumentOutOfRangeException(nameof(colour), colour, null),
    };
}
