namespace Microsoft.ML.Clip.Datasets;

/// <summary>Options of <see cref="ClipDataLoaders.LoadFromImageManifest"/>: a CSV or TSV file listing image paths and captions.</summary>
public sealed class ImageManifestOptions : ClipDatasetOptions
{
    /// <summary>The field separator; null picks a tab for <c>.tsv</c>/<c>.tab</c> files and a comma otherwise.</summary>
    public char? Separator { get; set; }

    /// <summary>
    /// The first line names the columns (default true). Without a header, <see cref="PathColumn"/> and
    /// <see cref="CaptionColumn"/> must be 0-based column numbers.
    /// </summary>
    public bool HasHeader { get; set; } = true;

    /// <summary>The column of image paths: a header name (case-insensitive) or a 0-based number. Default <c>path</c>.</summary>
    public string PathColumn { get; set; } = "path";

    /// <summary>The column of captions: a header name (case-insensitive) or a 0-based number. Default <c>caption</c>.</summary>
    public string CaptionColumn { get; set; } = "caption";

    /// <summary>The folder relative paths start from; null (the default) means the manifest's own folder.</summary>
    public string? ImageFolder { get; set; }
}
