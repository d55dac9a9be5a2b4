using System;
using System.Collections.Generic;

namespace Microsoft.ML.Clip.Datasets;

/// <summary>A format's reader: streams records file by file; a shuffling reader may also permute its files.</summary>
internal abstract class DatasetRecordSource
{
    /// <summary>Names of the text columns that follow ImageBytes and Caption.</summary>
    public abstract IReadOnlyList<string> ExtraColumns { get; }

    /// <summary>The number of records when known without reading the data (bad records not subtracted).</summary>
    public virtual long? Count => null;

    /// <summary>
    /// Streams records. File-level problems (a truncated shard, a malformed manifest line) go to
    /// <paramref name="bad"/>, which throws or counts them; <paramref name="rand"/>, when given, permutes the
    /// source's units (shards, files, row groups) before the cursor's shuffle buffer mixes records.
    /// </summary>
    public abstract IEnumerable<DatasetRecord> Enumerate(Random? rand, BadRecordHandler bad);
}
