namespace Microsoft.ML.Clip.Datasets;

/// <summary>
/// Options of <see cref="ParquetDataLoaders.LoadFromImageTextParquet(DataOperationsCatalog, System.Collections.Generic.IEnumerable{string}, ParquetImageTextOptions?)"/>:
/// Parquet files with a binary image column and a string caption column.
/// </summary>
public sealed class ParquetImageTextOptions : ClipDatasetOptions
{
    /// <summary>
    /// The image column: a binary column, or a struct with a binary <c>bytes</c> field (as Hugging Face
    /// datasets store images: <c>image.bytes</c>). Nested fields are named with dots. Default <c>image</c>.
    /// </summary>
    public string ImageColumn { get; set; } = "image";

    /// <summary>The caption column (string). Default <c>caption</c>.</summary>
    public string CaptionColumn { get; set; } = "caption";

    /// <summary>An optional column put in the <c>Key</c> column (string, or any type shown as text); null for none.</summary>
    public string? KeyColumn { get; set; }
}
