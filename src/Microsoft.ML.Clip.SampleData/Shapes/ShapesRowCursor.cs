using System;
using System.Collections.Generic;
using Microsoft.ML.Data;

namespace Microsoft.ML.Clip.SampleData.Shapes;

/// <summary>Cursor of <see cref="ShapesDataView"/>: sequential, or in a random permutation when given a generator.</summary>
internal sealed class ShapesRowCursor : DataViewRowCursor
{
    private readonly ShapesDataView _view;
    private readonly bool[] _active;
    private readonly int[]? _order;
    private readonly IEnumerator<ShapesRow>? _stream;
    private long _position = -1;
    private long _ordinal = -1;
    private ShapesRow? _row;
    private bool _done;

    public ShapesRowCursor(ShapesDataView view, bool[] active, Random? rand)
    {
        _view = view;
        _active = active;
        if (view.Source.Count is long count)
        {
            if (rand is not null)
                _order = Permutation(checked((int)count), rand);
        }
        else
        {
            _stream = view.Source.Enumerate().GetEnumerator();
        }
    }

    public override DataViewSchema Schema => _view.Schema;

    public override long Position => _position;

    public override long Batch => 0;

    public override bool MoveNext()
    {
        if (_done)
            return false;
        if (_stream is not null)
        {
            if (!_stream.MoveNext())
                return Finish();
            _row = _stream.Current;
            _ordinal = _position + 1;
        }
        else
        {
            long next = _position + 1;
            if (next >= _view.Source.Count!.Value)
                return Finish();
            _ordinal = _order is null ? next : _order[next];
            _row = _view.Source.Get(_ordinal);
        }
        _position++;
        return true;
    }

    public override bool IsColumnActive(DataViewSchema.Column column) => _active[column.Index];

    /// <summary>The row's ordinal in the source: stable whatever the cursor's order.</summary>
    public override ValueGetter<DataViewRowId> GetIdGetter() => (ref DataViewRowId value) =>
    {
        CheckOnRow();
        value = new DataViewRowId((ulong)_ordinal, 0);
    };

    public override ValueGetter<TValue> GetGetter<TValue>(DataViewSchema.Column column)
    {
        if (column.Index < 0 || column.Index >= _active.Length)
            throw new ArgumentOutOfRangeException(nameof(column), $"Column '{column.Name}' is not a column of this cursor.");
        if (!_active[column.Index])
            throw new InvalidOperationException($"Column '{column.Name}' was not requested when the cursor was made.");
        Delegate getter = column.Index switch
        {
            ShapesDataView.ImageIndex => (ValueGetter<MLImage>)GetImage,
            ShapesDataView.ImageBytesIndex => (ValueGetter<VBuffer<byte>>)GetImageBytes,
            ShapesDataView.CaptionIndex => TextGetter(row => row.Caption),
            ShapesDataView.LabelIndex => TextGetter(row => ShapesVocabulary.ClassName(row.Objects[0].Shape, row.Objects[0].Colour)),
            ShapesDataView.ShapeIndex => TextGetter(row => ShapesVocabulary.Name(row.Objects[0].Shape)),
            ShapesDataView.ColourIndex => TextGetter(row => ShapesVocabulary.Name(row.Objects[0].Colour)),
            ShapesDataView.SizeIndex => TextGetter(row => ShapesVocabulary.Name(row.Objects[0].Size)),
            _ => TextGetter(row => ShapesVocabulary.Name(row.Objects[0].Position)),
        };
        return getter as ValueGetter<TValue> ?? throw new InvalidOperationException(
            $"Column '{column.Name}' holds {column.Type.RawType.Name}, not {typeof(TValue).Name}.");
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _stream?.Dispose();
            _row = null;
            _done = true;
        }
        base.Dispose(disposing);
    }

    /// <summary>
    /// A new image each call; the image passed in is disposed first, as ML.NET's own image loader does, so a
    /// consumer that keeps images must copy them before asking for the next.
    /// </summary>
    private void GetImage(ref MLImage value)
    {
        var row = CheckOnRow();
        value?.Dispose();
        value = row.CreateImage();
    }

    private void GetImageBytes(ref VBuffer<byte> value)
    {
        byte[] png = CheckOnRow().Png;
        var editor = VBufferEditor.Create(ref value, png.Length);
        png.CopyTo(editor.Values);
        value = editor.Commit();
    }

    private ValueGetter<ReadOnlyMemory<char>> TextGetter(Func<ShapesRow, string> text) =>
        (ref ReadOnlyMemory<char> value) => value = text(CheckOnRow()).AsMemory();

    private ShapesRow CheckOnRow() =>
        _row ?? throw new InvalidOperationException("The cursor is not on a row: call MoveNext first.");

    private bool Finish()
    {
        _done = true;
        _row = null;
        return false;
    }

    private static int[] Permutation(int count, Random rand)
    {
        var order = new int[count];
        for (int i = 0; i < count; i++)
            order[i] = i;
        for (int i = count - 1; i > 0; i--)
        {
            int j = rand.Next(i + 1);
            (order[i], order[j]) = (order[j], order[i]);
        }
        return order;
    }
}
