using System.Collections.Generic;

namespace Microsoft.ML.Clip.SampleData;

/// <summary>
/// One generated image with its caption and structured labels. The labels describe the primary shape,
/// <c>Objects[0]</c>; <see cref="Objects"/> lists every shape in the image.
/// </summary>
/// <param name="Index">Position in the generated split; with the options' seed and split it determines the example.</param>
/// <param name="ImageBytes">The image, PNG-encoded (8-bit RGB, <see cref="ShapesDatasetOptions.ImageSize"/> pixels square).</param>
/// <param name="Caption">A caption naming every shape's colour and shape, and usually its size and position.</param>
/// <param name="Objects">The shapes in the image, primary first (drawn in this order).</param>
public sealed record ShapeExample(long Index, byte[] ImageBytes, string Caption, IReadOnlyList<ShapeObject> Objects)
{
    /// <summary>The primary shape.</summary>
    public ShapeObject Primary => Objects[0];

    /// <summary>The primary shape's kind.</summary>
    public ShapeKind Shape => Primary.Shape;

    /// <summary>The primary shape's colour.</summary>
    public ShapeColour Colour => Primary.Colour;

    /// <summary>The primary shape's size.</summary>
    public ShapeSize Size => Primary.Size;

    /// <summary>The primary shape's position.</summary>
    public ShapePosition Position => Primary.Position;

    /// <summary>The primary shape's class name, colour first (<c>red circle</c>): the classification label.</summary>
    public string Label => ShapesVocabulary.ClassName(Shape, Colour);
}
