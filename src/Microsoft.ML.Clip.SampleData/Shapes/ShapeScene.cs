using System.Collections.Generic;

namespace Microsoft.ML.Clip.SampleData.Shapes;

/// <summary>One shape placed in pixel space: what the rasterizer needs.</summary>
/// <param name="Shape">The shape.</param>
/// <param name="CenterX">Centre, in pixels from the left edge.</param>
/// <param name="CenterY">Centre, in pixels from the top edge.</param>
/// <param name="Radius">Half the shape's extent in pixels (the unit shape's 1).</param>
/// <param name="R">Fill red.</param>
/// <param name="G">Fill green.</param>
/// <param name="B">Fill blue.</param>
internal readonly record struct PlacedShape(ShapeKind Shape, double CenterX, double CenterY, double Radius, byte R, byte G, byte B);

/// <summary>Everything that decides one example, drawn before anything is rendered (cheap: no pixels).</summary>
/// <param name="Index">The example's index in its split.</param>
/// <param name="ImageSize">Image side in pixels.</param>
/// <param name="Objects">The shapes as the labels and caption describe them, primary first.</param>
/// <param name="Placed">The same shapes in pixel space, in drawing order.</param>
/// <param name="Background">Grey level of the background.</param>
/// <param name="NoiseLevel">Amplitude of the grey noise.</param>
/// <param name="NoiseSeed">Seed of the noise.</param>
/// <param name="Caption">The caption.</param>
internal sealed record ShapeScene(long Index, int ImageSize, IReadOnlyList<ShapeObject> Objects, PlacedShape[] Placed,
    byte Background, int NoiseLevel, ulong NoiseSeed, string Caption);
