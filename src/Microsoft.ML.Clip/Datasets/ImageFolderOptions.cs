using System.Collections.Generic;

namespace Microsoft.ML.Clip.Datasets;

/// <summary>Options of <see cref="ClipDataLoaders.LoadFromImageFolder"/>: images in one folder per class, <c>root/&lt;class&gt;/&lt;image&gt;</c>.</summary>
public sealed class ImageFolderOptions : ClipDatasetOptions
{
    /// <summary>The caption template: <c>{}</c> is replaced by the class name. Default <c>a photo of a {}.</c>.</summary>
    public string CaptionTemplate { get; set; } = "a photo of a {}.";

    /// <summary>In captions, write the folder name's underscores and hyphens as spaces (<c>golden_retriever</c> → <c>golden retriever</c>). Default true.</summary>
    public bool SpacesForUnderscores { get; set; } = true;

    /// <summary>File extensions taken as images (case-insensitive); other files are ignored.</summary>
    public IReadOnlyCollection<string> Extensions { get; set; } = [".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif"];
}
