namespace Microsoft.ML.Clip.SampleData;

/// <summary>Column names of the data views made by <see cref="ShapesDataset"/>.</summary>
public static class ShapesColumns
{
    /// <summary>The image as an <see cref="Microsoft.ML.Data.MLImage"/> (an image column, as ML.NET's image loader makes).</summary>
    public const string Image = "Image";

    /// <summary>The PNG file's bytes, a variable-length vector of <see cref="byte"/> (as <c>LoadRawImageBytes</c> makes).</summary>
    public const string ImageBytes = "ImageBytes";

    /// <summary>The caption, text.</summary>
    public const string Caption = "Caption";

    /// <summary>The primary shape's class name, colour first (<c>red circle</c>), text.</summary>
    public const string Label = "Label";

    /// <summary>The primary shape's kind (<c>circle</c>), text.</summary>
    public const string Shape = "Shape";

    /// <summary>The primary shape's colour (<c>red</c>), text.</summary>
    public const string Colour = "Colour";

    /// <summary>The primary shape's size (<c>small</c>), text.</summary>
    public const string Size = "Size";

    /// <summary>The primary shape's grid cell (<c>top left</c>), text.</summary>
    public const string Position = "Position";
}
