using System;
using System.IO;

namespace Microsoft.ML.Clip.Datasets;

/// <summary>
/// A dataset file is malformed or one of its records cannot be read. The message names the file and, where
/// there is one, the record (a manifest row, a tar entry, a Parquet row).
/// </summary>
public sealed class ClipDatasetException : IOException
{
    /// <summary>A bad record or file; the message is built from the file, the record and the problem.</summary>
    /// <param name="filePath">The dataset file (manifest, shard, Parquet file, IDX file).</param>
    /// <param name="record">The record within the file (for example <c>row 12</c> or <c>entry '000003.jpg'</c>), or null for the whole file.</param>
    /// <param name="problem">What is wrong.</param>
    /// <param name="inner">The underlying error, if any.</param>
    public ClipDatasetException(string filePath, string? record, string problem, Exception? inner = null)
        : base(record is null ? $"{filePath}: {problem}" : $"{filePath}, {record}: {problem}", inner)
    {
        FilePath = filePath;
        Record = record;
        Problem = problem;
    }

    /// <summary>The file the bad record is in (manifest, shard, Parquet file, IDX file).</summary>
    public string FilePath { get; }

    /// <summary>The record within the file, or null when the problem concerns the whole file.</summary>
    public string? Record { get; }

    /// <summary>What is wrong, without the file and record.</summary>
    public string Problem { get; }
}
