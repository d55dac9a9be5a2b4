using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using Microsoft.ML.Clip.Datasets;
using Microsoft.ML.Clip.Datasets.FashionMnist;
using Microsoft.ML.Clip.Datasets.ImageFolder;
using Microsoft.ML.Clip.Datasets.Manifest;
using Microsoft.ML.Clip.Datasets.WebDataset;
using Microsoft.ML.Data;
using Microsoft.ML.Runtime;

namespace Microsoft.ML.Clip;

/// <summary>
/// Loads image–caption datasets from the formats used to train CLIP models, as streaming data views with an
/// <c>ImageBytes</c> column (the encoded file as stored; the CLIP stages decode it) and a <c>Caption</c> column.
/// Extension methods of <see cref="MLContext.Data"/>.
/// </summary>
/// <remarks>
/// The views read their files as cursors move and hold at most one row group, one tar member or one shuffle
/// buffer in memory. Malformed input fails with a <see cref="ClipDatasetException"/> naming the file and record,
/// or, with <see cref="ClipDatasetOptions.SkipBadRecords"/>, is skipped, counted in
/// <see cref="ClipDatasetView.SkippedRecords"/> and logged as a warning on <see cref="MLContext.Log"/>.
/// </remarks>
public static class ClipDataLoaders
{
    /// <summary>
    /// Loads a CSV or TSV manifest of image paths and captions. Relative paths start from the manifest's folder
    /// (or <see cref="ImageManifestOptions.ImageFolder"/>); each image file is read when a cursor that needs
    /// <c>ImageBytes</c> reaches its row. Columns: <c>ImageBytes</c>, <c>Caption</c>, <c>Path</c> (the full path).
    /// </summary>
    /// <param name="catalog">The data catalog (<c>mlContext.Data</c>).</param>
    /// <param name="manifestPath">The manifest file; <c>.tsv</c>/<c>.tab</c> are tab-separated unless the options say otherwise.</param>
    /// <param name="options">Column names, separator, header, and the shared options.</param>
    /// <example>
    /// <code>
    /// // images.csv:  path,caption
    /// //              img/0001.jpg,"a dog, running on grass"
    /// var data = mlContext.Data.LoadFromImageManifest("data/images.csv");
    /// var model = mlContext.Transforms.ClipPretrain(ClipPresets.Tiny, tokenizer).Fit(data); // the default columns read ImageBytes / Caption
    /// </code>
    /// </example>
    public static ClipDatasetView LoadFromImageManifest(this DataOperationsCatalog catalog, string manifestPath,
        ImageManifestOptions? options = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(manifestPath);
        options ??= new ImageManifestOptions();
        return new ClipDatasetView(Env(catalog), "ImageManifest", new ImageManifestSource(manifestPath, options), options);
    }

    /// <summary>
    /// Loads images stored one folder per class (<c>root/&lt;class&gt;/&lt;image&gt;</c>, subfolders of a class
    /// included), with captions made from <see cref="ImageFolderOptions.CaptionTemplate"/> and the class name.
    /// Columns: <c>ImageBytes</c>, <c>Caption</c>, <c>Label</c> (the folder name), <c>Path</c>. The file list is
    /// taken when the view is made (so the row count is known); images are read as cursors reach them.
    /// </summary>
    /// <param name="catalog">The data catalog (<c>mlContext.Data</c>).</param>
    /// <param name="rootFolder">The folder whose subfolders are the classes.</param>
    /// <param name="options">Caption template, extensions, and the shared options.</param>
    /// <example>
    /// <code>
    /// var data = mlContext.Data.LoadFromImageFolder("pets", new ImageFolderOptions { CaptionTemplate = "a photo of a {}, a type of pet." });
    /// </code>
    /// </example>
    public static ClipDatasetView LoadFromImageFolder(this DataOperationsCatalog catalog, string rootFolder,
        ImageFolderOptions? options = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(rootFolder);
        options ??= new ImageFolderOptions();
        return new ClipDatasetView(Env(catalog), "ImageFolder", new ImageFolderSource(rootFolder, options), options);
    }

    /// <summary>
    /// Loads WebDataset tar shards (as img2dataset writes them: members <c>key.jpg|png|webp</c>, <c>key.txt</c>
    /// and optionally <c>key.json</c>, grouped by key). Shards are read forward-only, in the given order or, for a
    /// shuffling cursor, in a random order through a shuffle buffer. Columns: <c>ImageBytes</c>, <c>Caption</c>,
    /// <c>Key</c>, <c>Source</c> (the shard), <c>Json</c>.
    /// </summary>
    /// <param name="catalog">The data catalog (<c>mlContext.Data</c>).</param>
    /// <param name="shardPaths">The shard files, in reading order.</param>
    /// <param name="options">Member extensions, and the shared options.</param>
    /// <example>
    /// <code>
    /// var shards = Enumerable.Range(0, 8).Select(i => $"laion/{i:D6}.tar");
    /// var data = mlContext.Data.LoadFromWebDataset(shards, new WebDatasetOptions { Shuffle = true, Seed = 1, SkipBadRecords = true });
    /// </code>
    /// </example>
    public static ClipDatasetView LoadFromWebDataset(this DataOperationsCatalog catalog, IEnumerable<string> shardPaths,
        WebDatasetOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(shardPaths);
        options ??= new WebDatasetOptions();
        return new ClipDatasetView(Env(catalog), "WebDataset", new WebDatasetSource(shardPaths, options), options);
    }

    /// <summary>Loads every <c>*.tar</c> shard of a folder, in name order (<c>000000.tar</c>, <c>000001.tar</c>, ...); see <see cref="LoadFromWebDataset(DataOperationsCatalog, IEnumerable{string}, WebDatasetOptions?)"/>.</summary>
    /// <param name="catalog">The data catalog (<c>mlContext.Data</c>).</param>
    /// <param name="folder">The folder holding the shards.</param>
    /// <param name="options">Member extensions, and the shared options.</param>
    public static ClipDatasetView LoadFromWebDataset(this DataOperationsCatalog catalog, string folder, WebDatasetOptions? options = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(folder);
        if (!Directory.Exists(folder))
            throw new DirectoryNotFoundException($"Shard folder '{Path.GetFullPath(folder)}' does not exist.");
        var shards = Directory.GetFiles(folder, "*.tar").Order(StringComparer.Ordinal).ToArray();
        if (shards.Length == 0)
            throw new ClipDatasetException(Path.GetFullPath(folder), null, "the folder has no .tar shards");
        return catalog.LoadFromWebDataset(shards, options);
    }

    /// <summary>
    /// Loads Fashion-MNIST from its IDX files (<c>train-images-idx3-ubyte</c>, <c>train-labels-idx1-ubyte</c>,
    /// <c>t10k-…</c>; gzip-compressed or plain), checking magic numbers and sizes. Each 28×28 grayscale image
    /// becomes PNG bytes when a cursor reads <c>ImageBytes</c>. Columns: <c>ImageBytes</c>, <c>Caption</c>
    /// (from <see cref="FashionMnistOptions.CaptionTemplate"/>), <c>Label</c> (one of <see cref="FashionMnistClasses.Names"/>).
    /// </summary>
    /// <param name="catalog">The data catalog (<c>mlContext.Data</c>).</param>
    /// <param name="folder">The folder holding the four files (Debian's <c>dataset-fashion-mnist</c> installs them in <c>/usr/share/datasets/fashion-mnist</c>).</param>
    /// <param name="split">Training (60,000) or test (10,000) images.</param>
    /// <param name="options">Caption template, and the shared options.</param>
    /// <example>
    /// <code>
    /// var test = mlContext.Data.LoadFashionMnist("/usr/share/datasets/fashion-mnist", FashionMnistSplit.Test);
    /// </code>
    /// </example>
    public static ClipDatasetView LoadFashionMnist(this DataOperationsCatalog catalog, string folder, FashionMnistSplit split,
        FashionMnistOptions? options = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(folder);
        options ??= new FashionMnistOptions();
        return new ClipDatasetView(Env(catalog), "FashionMnist", new FashionMnistSource(folder, split, options), options);
    }

    internal static IHostEnvironment Env(DataOperationsCatalog catalog)
    {
        ArgumentNullException.ThrowIfNull(catalog);
        return CatalogUtils.GetEnvironment(catalog);
    }
}
