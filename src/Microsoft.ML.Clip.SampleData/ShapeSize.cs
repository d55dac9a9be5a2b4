namespace Microsoft.ML.Clip.SampleData;

/// <summary>
/// Size classes. The shape's extent (its diameter, for a circle) is drawn uniformly from a range that is a
/// fraction of the image side, so sizes stay meaningful at every <see cref="ShapesDatasetOptions.ImageSize"/>.
/// </summary>
public enum ShapeSize
{
    /// <summary>18–23 % of the image side.</summary>
    Small,
    /// <summary>27–32 % of the image side. Not in the default set.</summary>
    Medium,
    /// <summary>36–42 % of the image side.</summary>
    Large,
}
