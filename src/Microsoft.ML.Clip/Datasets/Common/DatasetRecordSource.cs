using System;
using System.Collections.Generic;

namespace Microsoft.ML.Clip.Datasets.Common;

/// <summary>A format's reader: streams records file by file; a shuffling reader may also permute its files.</summary>
internal abstract class DatasetRecordSource
{
    /// <summary>Names of the text columns that follow ImageBytes and Caption.</summary>
    public abstract IReadOnlyList<string> ExtraColumns { get; }

    /// <summary>The number of records when known without reading the data (bad records not subtracted).</summary>
    public virtual long? Count => null;

    /// <summary>
    /// True when <see cref="Enumerate"/> with a generator yields a uniformly random permutation of all records (the
    /// source can reach any record without reading the others' images); false when it can only permute units
    /// (shards, row groups), so the cursor mixes records through its shuffle buffer.
    /// </summary>
    public virtual bool PermutesRecords => false;

    /// <summary>
    /// Streams records. File-level problems (a truncated shard, a malformed manifest line) go to
    /// <paramref name="bad"/>, which throws or counts them. <paramref name="rand"/>, when given, permutes the
    /// records (<see cref="PermutesRecords"/>) or the source's units (shards, row groups) before the cursor's
    /// shuffle buffer mixes records.
    /// </summary>
    public abstract IEnumerable<DatasetRecord> Enumerate(Random? rand, BadRecordHandler bad);

    /// <summary>
    /// <paramref name="records"/> as they come without a generator; with one, all of them listed first (records that
    /// read their image lazily hold only its location) and returned in a uniformly random order.
    /// </summary>
    protected static IEnumerable<DatasetRecord> Permute(IEnumerable<DatasetRecord> records, Random? rand)
    {
        if (rand is null)
            return records;
        var all = System.Linq.Enumerable.ToArray(records);
        rand.Shuffle(all);
        return all;
    }
}
