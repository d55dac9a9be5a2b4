using System;
using Microsoft.ML.Data;

namespace Microsoft.ML.Clip.Datasets.Common;

/// <summary>
/// One image–caption record from a source: the image is either held (read from a tar or Parquet file) or read
/// on demand (a file on disk), so cursors that do not read the image column never touch it.
/// </summary>
internal sealed class DatasetRecord
{
    private byte[]? _image;
    private readonly Func<byte[]>? _loadImage;

    public DatasetRecord(DataViewRowId id, string file, string record, byte[]? image, Func<byte[]>? loadImage, string caption, string[] extra)
    {
        Id = id;
        File = file;
        Record = record;
        _image = image;
        _loadImage = loadImage;
        Caption = caption;
        Extra = extra;
    }

    /// <summary>The file the record came from, for error messages.</summary>
    public string File { get; }

    /// <summary>Where in the file (<c>row 3</c>, <c>entry 'key'</c>), for error messages.</summary>
    public string Record { get; }

    public string Caption { get; }

    /// <summary>
    /// The row id: where the record is stored (its index in the stored order, or shard and sample for WebDataset),
    /// so it is the same in every order a cursor reads the records in (ML.NET's convention, which row-id based
    /// splits rely on).
    /// </summary>
    public DataViewRowId Id { get; }

    /// <summary>Values of the source's extra text columns, in <see cref="DatasetRecordSource.ExtraColumns"/> order.</summary>
    public string[] Extra { get; }

    /// <summary>The image bytes, read on first use.</summary>
    public byte[] GetImage() => _image ??= _loadImage!();

    public ClipDatasetException Error(string problem, Exception? inner = null) => new(File, Record, problem, inner);
}
