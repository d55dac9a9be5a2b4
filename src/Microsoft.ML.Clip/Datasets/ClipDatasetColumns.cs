namespace Microsoft.ML.Clip.Datasets;

/// <summary>Column names of the data views made by <see cref="ClipDataLoaders"/>.</summary>
public static class ClipDatasetColumns
{
    /// <summary>The encoded image file as stored (JPEG, PNG, WebP, ...), a variable-length vector of <see cref="byte"/>.</summary>
    public const string ImageBytes = "ImageBytes";

    /// <summary>The caption, text.</summary>
    public const string Caption = "Caption";

    /// <summary>The image file's path (manifest, folder per class), text.</summary>
    public const string Path = "Path";

    /// <summary>The class name (folder per class, Fashion-MNIST), text.</summary>
    public const string Label = "Label";

    /// <summary>The sample's key (WebDataset member name without extensions; a Parquet key column), text.</summary>
    public const string Key = "Key";

    /// <summary>The file the record came from (WebDataset shard, Parquet file), text.</summary>
    public const string Source = "Source";

    /// <summary>The WebDataset sample's <c>key.json</c> member, text; empty when the sample has none.</summary>
    public const string Json = "Json";
}
