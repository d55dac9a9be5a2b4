using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using Microsoft.ML.Clip.Datasets.Common;
using Microsoft.ML.Data;
using Parquet;
using Parquet.Schema;

namespace Microsoft.ML.Clip.Datasets.Parquet;

/// <summary>
/// Records of Parquet files, read one row group at a time: only the image, caption (and key) columns of the
/// current row group are in memory. Footers are read when the view is made, which checks the columns and
/// gives the row count.
/// </summary>
internal sealed class ParquetImageTextSource : DatasetRecordSource
{
    private readonly string[] _files;
    private readonly ParquetImageTextOptions _options;
    private readonly string[] _extras;
    private readonly long _count;
    private readonly long[] _fileStarts; // row id of each file's first row
    private readonly int _rowGroups;

    public ParquetImageTextSource(IEnumerable<string> files, ParquetImageTextOptions options)
    {
        _files = files.Select(Path.GetFullPath).ToArray();
        if (_files.Length == 0)
            throw new ArgumentException("No Parquet files given.", nameof(files));
        _options = options;
        _extras = options.KeyColumn is null ? [ClipDatasetColumns.Source] : [ClipDatasetColumns.Key, ClipDatasetColumns.Source];
        _fileStarts = new long[_files.Length];
        for (int f = 0; f < _files.Length; f++)
        {
            string file = _files[f];
            _fileStarts[f] = _count;
            if (!File.Exists(file))
                throw new FileNotFoundException($"Parquet file '{file}' does not exist.", file);
            using var stream = File.OpenRead(file);
            var reader = Open(file, stream);
            try
            {
                Fields(file, reader.Schema);
                _rowGroups += reader.RowGroupCount;
                for (int g = 0; g < reader.RowGroupCount; g++)
                {
                    using var group = reader.OpenRowGroupReader(g);
                    _count += group.RowCount;
                }
            }
            finally
            {
                reader.DisposeAsync().AsTask().GetAwaiter().GetResult();
            }
        }
    }

    public override IReadOnlyList<string> ExtraColumns => _extras;

    public override long? Count => _count;

    /// <summary>
    /// True only for data in one row group: a shuffled pass permutes the files, their row groups and the rows within
    /// each group, but rows of different groups meet only in the cursor's shuffle buffer (reaching any row at random
    /// would mean decoding a whole row group per row).
    /// </summary>
    public override bool PermutesRecords => _rowGroups <= 1;

    public override IEnumerable<DatasetRecord> Enumerate(Random? rand, BadRecordHandler bad)
    {
        int[] order = Enumerable.Range(0, _files.Length).ToArray();
        if (rand is not null)
            rand.Shuffle(order);
        foreach (int fileIndex in order)
        {
            string file = _files[fileIndex];
            using var stream = new FileStream(file, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
            var reader = Open(file, stream);
            try
            {
            var (imageField, captionField, keyField) = Fields(file, reader.Schema);
            // Row numbers count from the file's start whatever order the row groups are read in.
            var starts = new long[reader.RowGroupCount];
            for (int g = 1; g < starts.Length; g++)
            {
                using var previous = reader.OpenRowGroupReader(g - 1);
                starts[g] = starts[g - 1] + previous.RowCount;
            }
            int[] groups = Enumerable.Range(0, reader.RowGroupCount).ToArray();
            if (rand is not null)
                rand.Shuffle(groups);
            foreach (int g in groups)
            {
                var (images, captions, keys) = ReadGroup(file, reader, g, imageField, captionField, keyField);
                int[] rows = Enumerable.Range(0, images.Length).ToArray();
                if (rand is not null)
                    rand.Shuffle(rows);
                foreach (int i in rows)
                {
                    long row = starts[g] + i;
                    string where = $"row {row} (row group {g})";
                    if (images[i] is null)
                    {
                        bad.Handle(new ClipDatasetException(file, where, $"the image ('{_options.ImageColumn}') is null"));
                        continue;
                    }
                    if (captions[i] is null)
                    {
                        bad.Handle(new ClipDatasetException(file, where, $"the caption ('{_options.CaptionColumn}') is null"));
                        continue;
                    }
                    string[] extra = keys is null ? [file] : [keys[i] ?? "", file];
                    yield return new DatasetRecord(new DataViewRowId((ulong)(_fileStarts[fileIndex] + row), 0), file, where, images[i], null, captions[i]!, extra);
                }
            }
            }
            finally
            {
                reader.DisposeAsync().AsTask().GetAwaiter().GetResult();
            }
        }
    }

    private (byte[]?[] Images, string?[] Captions, string?[]? Keys) ReadGroup(string file, ParquetReader reader, int g,
        DataField imageField, DataField captionField, DataField? keyField)
    {
        try
        {
            using var group = reader.OpenRowGroupReader(g);
            int rows = checked((int)group.RowCount);
            var images = new byte[]?[rows];
            var captions = new string?[rows];
            group.ReadAsync(imageField, images.AsMemory()).AsTask().GetAwaiter().GetResult();
            group.ReadAsync(captionField, captions.AsMemory()).AsTask().GetAwaiter().GetResult();
            string?[]? keys = null;
            if (keyField is not null)
            {
                keys = new string?[rows];
                if (keyField.ClrType == typeof(string) || keyField.ClrType == typeof(ReadOnlyMemory<char>))
                {
                    group.ReadAsync(keyField, keys.AsMemory()).AsTask().GetAwaiter().GetResult();
                }
                else
                {
                    var numbers = new long?[rows];
                    if (keyField.ClrType == typeof(int))
                    {
                        var ints = new int?[rows];
                        group.ReadAsync(keyField, ints.AsMemory()).AsTask().GetAwaiter().GetResult();
                        for (int i = 0; i < rows; i++)
                            numbers[i] = ints[i];
                    }
                    else
                    {
                        group.ReadAsync(keyField, numbers.AsMemory()).AsTask().GetAwaiter().GetResult();
                    }
                    for (int i = 0; i < rows; i++)
                        keys[i] = numbers[i]?.ToString(CultureInfo.InvariantCulture);
                }
            }
            return (images, captions, keys);
        }
        catch (Exception e) when (e is IOException or InvalidDataException or InvalidOperationException or ArgumentException or FormatException)
        {
            throw new ClipDatasetException(file, $"row group {g}", $"cannot read the row group ({e.Message})", e);
        }
    }

    private static string TypeName(DataField field) =>
        field.ClrType == typeof(byte[]) || field.ClrType == typeof(ReadOnlyMemory<byte>) ? "binary"
        : field.ClrType == typeof(ReadOnlyMemory<char>) ? "String" : field.ClrType.Name;

    private static ParquetReader Open(string file, Stream stream)
    {
        try
        {
            return ParquetReader.CreateAsync(stream, leaveStreamOpen: true).GetAwaiter().GetResult();
        }
        catch (Exception e) when (e is IOException or InvalidDataException or InvalidOperationException or ArgumentException or FormatException)
        {
            throw new ClipDatasetException(file, null, $"not a readable Parquet file ({e.Message})", e);
        }
    }

    private (DataField Image, DataField Caption, DataField? Key) Fields(string file, ParquetSchema schema)
    {
        var fields = schema.GetDataFields();
        DataField? Find(string name) =>
            fields.FirstOrDefault(f => string.Join(".", f.Path.ToList()) == name)
            ?? fields.FirstOrDefault(f => string.Equals(string.Join(".", f.Path.ToList()), name, StringComparison.OrdinalIgnoreCase));
        string Available() => string.Join(", ", fields.Select(f => $"{string.Join(".", f.Path.ToList())} ({TypeName(f)})"));

        var image = Find(_options.ImageColumn) ?? Find(_options.ImageColumn + ".bytes")
            ?? throw new ClipDatasetException(file, null, $"no image column '{_options.ImageColumn}' (ImageColumn); the columns are: {Available()}");
        if (image.ClrType != typeof(byte[]) && image.ClrType != typeof(ReadOnlyMemory<byte>))
            throw new ClipDatasetException(file, null, $"the image column '{_options.ImageColumn}' holds {TypeName(image)}, not binary");
        var caption = Find(_options.CaptionColumn)
            ?? throw new ClipDatasetException(file, null, $"no caption column '{_options.CaptionColumn}' (CaptionColumn); the columns are: {Available()}");
        if (caption.ClrType != typeof(string) && caption.ClrType != typeof(ReadOnlyMemory<char>))
            throw new ClipDatasetException(file, null, $"the caption column '{_options.CaptionColumn}' holds {TypeName(caption)}, not strings");
        DataField? key = null;
        if (_options.KeyColumn is { } keyName)
        {
            key = Find(keyName) ?? throw new ClipDatasetException(file, null, $"no key column '{keyName}' (KeyColumn); the columns are: {Available()}");
            if (key.ClrType != typeof(string) && key.ClrType != typeof(ReadOnlyMemory<char>) && key.ClrType != typeof(int) && key.ClrType != typeof(long))
                throw new ClipDatasetException(file, null, $"the key column '{keyName}' holds {TypeName(key)}; expected a string, int or long");
        }
        return (image, caption, key);
    }
}
