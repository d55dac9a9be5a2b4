using System.Collections.Generic;

namespace Microsoft.ML.Clip.Datasets;

/// <summary>
/// Options of <see cref="ClipDataLoaders.LoadFromWebDataset(DataOperationsCatalog, IEnumerable{string}, WebDatasetOptions?)"/>:
/// tar shards whose members are grouped by key (<c>key.jpg</c>, <c>key.txt</c>, <c>key.json</c>), as img2dataset writes them.
/// </summary>
/// <remarks>
/// A shuffling cursor reads the shards in a random order and mixes samples through the shuffle buffer
/// (<see cref="ClipDatasetOptions.ShuffleBufferSize"/>), as WebDataset's own loaders do.
/// </remarks>
public sealed class WebDatasetOptions : ClipDatasetOptions
{
    /// <summary>Member extensions taken as the image, in order of preference (case-insensitive, no dot). Default jpg, jpeg, png, webp.</summary>
    public IReadOnlyList<string> ImageExtensions { get; set; } = ["jpg", "jpeg", "png", "webp"];

    /// <summary>The member extension of the caption (UTF-8 text). Default <c>txt</c>.</summary>
    public string CaptionExtension { get; set; } = "txt";

    /// <summary>The member extension of the metadata put in the <c>Json</c> column. Default <c>json</c>.</summary>
    public string JsonExtension { get; set; } = "json";
}
