using System;
using System.Collections.Generic;
using Microsoft.ML.Clip.Datasets;
using Microsoft.ML.Clip.Datasets.Parquet;

namespace Microsoft.ML.Clip;

/// <summary>
/// The Parquet loader of <c>mlContext.Data</c>, in its own package so that only applications reading Parquet carry
/// Parquet.Net (as ML.NET keeps its own Parquet loader in Microsoft.ML.Parquet). The view it returns is the same
/// <see cref="ClipDatasetView"/> as the other loaders'.
/// </summary>
public static class ParquetDataLoaders
{
    /// <summary>
    /// Loads Parquet files holding encoded images (a binary column, or a struct with a <c>bytes</c> field) and
    /// captions, one row group at a time. Columns: <c>ImageBytes</c>, <c>Caption</c>, <c>Key</c> (when
    /// <see cref="ParquetImageTextOptions.KeyColumn"/> is set), <c>Source</c> (the file). Row numbers in
    /// errors count from the start of the file.
    /// </summary>
    /// <param name="catalog">The data catalog (<c>mlContext.Data</c>).</param>
    /// <param name="paths">The Parquet files, in reading order.</param>
    /// <param name="options">Column names, and the shared options.</param>
    /// <example>
    /// <code>
    /// var data = mlContext.Data.LoadFromImageTextParquet(["train-00000.parquet"], new ParquetImageTextOptions { CaptionColumn = "text" });
    /// </code>
    /// </example>
    public static ClipDatasetView LoadFromImageTextParquet(this DataOperationsCatalog catalog, IEnumerable<string> paths,
        ParquetImageTextOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(paths);
        options ??= new ParquetImageTextOptions();
        return new ClipDatasetView(ClipDataLoaders.Env(catalog), "ImageTextParquet", new ParquetImageTextSource(paths, options), options);
    }

    /// <summary>Loads one Parquet file; see <see cref="LoadFromImageTextParquet(DataOperationsCatalog, IEnumerable{string}, ParquetImageTextOptions?)"/>.</summary>
    /// <param name="catalog">The data catalog (<c>mlContext.Data</c>).</param>
    /// <param name="path">The Parquet file.</param>
    /// <param name="options">Column names, and the shared options.</param>
    public static ClipDatasetView LoadFromImageTextParquet(this DataOperationsCatalog catalog, string path,
        ParquetImageTextOptions? options = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        return catalog.LoadFromImageTextParquet([path], options);
    }
}
