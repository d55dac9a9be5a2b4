using System;
using System.Collections.Generic;
using Microsoft.ML.Data;

namespace Microsoft.ML.Clip.Transforms.Pretrain;

/// <summary>
/// One side of a seeded random split decided by each row's id: a row belongs to the held-out side when a hash of
/// its id and the seed falls below the fraction. Unlike ML.NET's <c>TrainTestSplit</c> (a random number drawn in
/// cursor order, which makes the result impossible to shuffle), the split does not depend on the order a cursor
/// reads the rows in, so both sides keep the source's shuffling. It relies on ML.NET's convention that row ids
/// name stored rows and stay the same under shuffling (true of its loaders, caches and in-memory views, and of
/// this library's dataset loaders).
/// </summary>
internal sealed class RowIdSplitView : IDataView
{
    private readonly IDataView _source;
    private readonly double _fraction;
    private readonly ulong _seed;
    private readonly bool _heldOut;

    private RowIdSplitView(IDataView source, double fraction, int seed, bool heldOut)
    {
        _source = source;
        _fraction = fraction;
        _seed = unchecked((ulong)seed * 0x9E3779B97F4A7C15UL + 0x632BE59BD9B4E019UL);
        _heldOut = heldOut;
    }

    /// <summary>The rows outside and inside a held-out fraction of <paramref name="source"/>.</summary>
    public static (IDataView Train, IDataView HeldOut) Split(IDataView source, double fraction, int seed) =>
        (new RowIdSplitView(source, fraction, seed, heldOut: false), new RowIdSplitView(source, fraction, seed, heldOut: true));

    /// <summary>The view being split.</summary>
    public IDataView Source => _source;

    public bool CanShuffle => _source.CanShuffle;

    public DataViewSchema Schema => _source.Schema;

    public long? GetRowCount() => null;

    public DataViewRowCursor GetRowCursor(IEnumerable<DataViewSchema.Column> columnsNeeded, Random? rand = null) =>
        new Cursor(this, _source.GetRowCursor(columnsNeeded, rand));

    /// <summary>One cursor: the split keeps the source's order, which a set of cursors would not.</summary>
    public DataViewRowCursor[] GetRowCursorSet(IEnumerable<DataViewSchema.Column> columnsNeeded, int n, Random? rand = null) =>
        [GetRowCursor(columnsNeeded, rand)];

    /// <summary>Whether the row with <paramref name="id"/> is on the held-out side: a 64-bit mix of id and seed, as a number in [0, 1).</summary>
    private bool IsHeldOut(DataViewRowId id)
    {
        ulong h = Mix(Mix(id.Low ^ _seed) ^ id.High);
        return (h >> 11) * (1.0 / (1UL << 53)) < _fraction;
    }

    /// <summary>SplitMix64's finalizer: every input bit affects every output bit.</summary>
    private static ulong Mix(ulong z)
    {
        unchecked
        {
            z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
            z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
            return z ^ (z >> 31);
        }
    }

    private sealed class Cursor(RowIdSplitView view, DataViewRowCursor source) : DataViewRowCursor
    {
        private readonly ValueGetter<DataViewRowId> _id = source.GetIdGetter();
        private long _position = -1;

        public override DataViewSchema Schema => source.Schema;

        public override long Position => _position;

        public override long Batch => source.Batch;

        public override bool MoveNext()
        {
            DataViewRowId id = default;
            while (source.MoveNext())
            {
                _id(ref id);
                if (view.IsHeldOut(id) == view._heldOut)
                {
                    _position++;
                    return true;
                }
            }
            return false;
        }

        public override ValueGetter<DataViewRowId> GetIdGetter() => _id;

        public override ValueGetter<TValue> GetGetter<TValue>(DataViewSchema.Column column) => source.GetGetter<TValue>(column);

        public override bool IsColumnActive(DataViewSchema.Column column) => source.IsColumnActive(column);

        protected override void Dispose(bool disposing)
        {
            if (disposing)
                source.Dispose();
            base.Dispose(disposing);
        }
    }
}
