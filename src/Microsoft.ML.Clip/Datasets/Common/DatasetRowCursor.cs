using System;
using System.Collections.Generic;
using System.IO;
using Microsoft.ML.Clip.Imaging;
using Microsoft.ML.Data;

namespace Microsoft.ML.Clip.Datasets.Common;

/// <summary>
/// Cursor of <see cref="ClipDatasetView"/>: streams the source's records; given a generator, either the source's own
/// permutation of all records or, for sources that can only permute shards or row groups, through a shuffle buffer.
/// </summary>
internal sealed class DatasetRowCursor : DataViewRowCursor
{
    private readonly ClipDatasetView _view;
    private readonly bool[] _active;
    private readonly IEnumerator<DatasetRecord> _records;
    private readonly BadRecordHandler _bad;
    private long _position = -1;
    private DatasetRecord? _row;
    private bool _done;

    public DatasetRowCursor(ClipDatasetView view, bool[] active, Random? rand, BadRecordHandler bad)
    {
        _view = view;
        _active = active;
        _bad = bad;
        var stream = view.Source.Enumerate(rand, bad);
        bool buffer = rand is not null && !view.Source.PermutesRecords;
        _records = (buffer ? ShuffleBuffer(stream, view.Options.ShuffleBufferSize, rand!) : stream).GetEnumerator();
    }

    public override DataViewSchema Schema => _view.Schema;

    public override long Position => _position;

    public override long Batch => 0;

    public override bool MoveNext()
    {
        if (_done)
            return false;
        while (true)
        {
            if (!_records.MoveNext())
            {
                _done = true;
                _row = null;
                return false;
            }
            var record = _records.Current;
            if (_active[ClipDatasetView.ImageBytesIndex] && CheckImage(record) is { } error)
            {
                _bad.Handle(error);
                continue;
            }
            _row = record;
            _position++;
            return true;
        }
    }

    public override bool IsColumnActive(DataViewSchema.Column column) => _active[column.Index];

    /// <summary>Where the record is stored (<see cref="DatasetRecord.Id"/>): the same in every order.</summary>
    public override ValueGetter<DataViewRowId> GetIdGetter() => (ref DataViewRowId value) => value = CheckOnRow().Id;

    public override ValueGetter<TValue> GetGetter<TValue>(DataViewSchema.Column column)
    {
        if (column.Index < 0 || column.Index >= _active.Length)
            throw new ArgumentOutOfRangeException(nameof(column), $"Column '{column.Name}' is not a column of this cursor.");
        if (!_active[column.Index])
            throw new InvalidOperationException($"Column '{column.Name}' was not requested when the cursor was made.");
        Delegate getter = column.Index switch
        {
            ClipDatasetView.ImageBytesIndex => (ValueGetter<VBuffer<byte>>)GetImageBytes,
            ClipDatasetView.CaptionIndex => (ValueGetter<ReadOnlyMemory<char>>)((ref ReadOnlyMemory<char> value) => value = CheckOnRow().Caption.AsMemory()),
            _ => ExtraGetter(column.Index - ClipDatasetView.FirstExtraIndex),
        };
        return getter as ValueGetter<TValue> ?? throw new InvalidOperationException(
            $"Column '{column.Name}' holds {column.Type.RawType.Name}, not {typeof(TValue).Name}.");
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            // Closes the file (shard, manifest, Parquet file) the source is reading.
            _records.Dispose();
            _row = null;
            _done = true;
        }
        base.Dispose(disposing);
    }

    private ValueGetter<ReadOnlyMemory<char>> ExtraGetter(int extra) =>
        (ref ReadOnlyMemory<char> value) => value = CheckOnRow().Extra[extra].AsMemory();

    private void GetImageBytes(ref VBuffer<byte> value)
    {
        byte[] bytes = CheckOnRow().GetImage();
        var editor = VBufferEditor.Create(ref value, bytes.Length);
        bytes.CopyTo(editor.Values);
        value = editor.Commit();
    }

    /// <summary>Reads (if on disk) and checks the record's image; the error names the file and record.</summary>
    private ClipDatasetException? CheckImage(DatasetRecord record)
    {
        byte[] bytes;
        try
        {
            bytes = record.GetImage();
        }
        catch (ClipDatasetException error)
        {
            return error;
        }
        catch (Exception error) when (error is IOException or UnauthorizedAccessException)
        {
            return record.Error($"cannot read the image: {error.Message}", error);
        }
        if (_view.Options.ValidateImageSignature && EncodedImageDecoder.CheckSignature(bytes) is { } problem)
            return record.Error(problem);
        return null;
    }

    private DatasetRecord CheckOnRow() =>
        _row ?? throw new InvalidOperationException("The cursor is not on a row: call MoveNext first.");

    /// <summary>Fills a buffer, then emits a random element and puts the next record in its place; drains it shuffled at the end.</summary>
    private static IEnumerable<DatasetRecord> ShuffleBuffer(IEnumerable<DatasetRecord> records, int size, Random rand)
    {
        var buffer = new List<DatasetRecord>(Math.Min(size, 4096));
        foreach (var record in records)
        {
            if (buffer.Count < size)
            {
                buffer.Add(record);
                continue;
            }
            int pick = rand.Next(buffer.Count);
            yield return buffer[pick];
            buffer[pick] = record;
        }
        for (int n = buffer.Count; n > 0; n--)
        {
            int pick = rand.Next(n);
            yield return buffer[pick];
            buffer[pick] = buffer[n - 1];
        }
    }
}
