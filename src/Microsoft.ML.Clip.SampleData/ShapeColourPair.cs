namespace Microsoft.ML.Clip.SampleData;

/// <summary>A (shape, colour) combination: the unit that <see cref="ShapesDatasetOptions.HeldOutPairs"/> holds out and zero-shot classifies.</summary>
/// <param name="Shape">The shape.</param>
/// <param name="Colour">The colour.</param>
public readonly record struct ShapeColourPair(ShapeKind Shape, ShapeColour Colour)
{
    /// <summary>The class name, colour first: <c>red circle</c>.</summary>
    public string ClassName => ShapesVocabulary.ClassName(Shape, Colour);

    /// <inheritdoc/>
    public override string ToString() => ClassName;
}
