using System;
using System.Collections.Generic;
using System.Threading;
using Microsoft.ML.Clip.Datasets.Common;
using Microsoft.ML.Data;
using Microsoft.ML.Runtime;

namespace Microsoft.ML.Clip.Datasets;

/// <summary>
/// A streaming data view over an image–caption dataset on disk, made by <see cref="ClipDataLoaders"/>. Its
/// columns are <c>ImageBytes</c> (the encoded image file as stored, a variable-length <see cref="byte"/>
/// vector: decoding is left to the CLIP stages), <c>Caption</c> (text) and the format's own text columns.
/// Cursors read the files as they move; nothing is materialized beyond the shuffle buffer.
/// </summary>
/// <remarks>
/// A malformed record fails the cursor with a <see cref="ClipDatasetException"/> naming the file and record,
/// unless the options' <see cref="ClipDatasetOptions.SkipBadRecords"/> is set: then it is skipped, counted in
/// <see cref="SkippedRecords"/>, kept in <see cref="RecentSkips"/> and logged as a warning on the
/// <see cref="MLContext.Log"/> event. Image bytes are checked when a cursor that reads <c>ImageBytes</c>
/// reaches the record (signature only, see <see cref="ClipDatasetOptions.ValidateImageSignature"/>).
/// </remarks>
public sealed class ClipDatasetView : IDataView
{
    internal const int ImageBytesIndex = 0;
    internal const int CaptionIndex = 1;
    internal const int FirstExtraIndex = 2;
    private const int RecentSkipLimit = 100;

    private readonly IHost? _host;
    private readonly Queue<ClipDatasetException> _recent = new();
    private long _skipped;
    private int _cursors;

    internal ClipDatasetView(IHostEnvironment? env, string name, DatasetRecordSource source, ClipDatasetOptions options)
    {
        ArgumentNullException.ThrowIfNull(source);
        ArgumentNullException.ThrowIfNull(options);
        if (options.ShuffleBufferSize < 1)
            throw new ArgumentOutOfRangeException(nameof(options), $"ShuffleBufferSize must be at least 1; got {options.ShuffleBufferSize}.");
        _host = env?.Register(name);
        Source = source;
        Options = options;
        var builder = new DataViewSchema.Builder();
        builder.AddColumn(ClipDatasetColumns.ImageBytes, new VectorDataViewType(NumberDataViewType.Byte));
        builder.AddColumn(ClipDatasetColumns.Caption, TextDataViewType.Instance);
        foreach (string column in source.ExtraColumns)
            builder.AddColumn(column, TextDataViewType.Instance);
        Schema = builder.ToSchema();
    }

    internal DatasetRecordSource Source { get; }

    internal ClipDatasetOptions Options { get; }

    /// <summary>Records skipped as malformed by all cursors of this view so far (each pass counts its own).</summary>
    public long SkippedRecords => Interlocked.Read(ref _skipped);

    /// <summary>The errors of the last (up to 100) skipped records, oldest first.</summary>
    public IReadOnlyList<ClipDatasetException> RecentSkips
    {
        get
        {
            lock (_recent)
                return _recent.ToArray();
        }
    }

    /// <summary>True: cursors given a random generator read the files in a shuffled order through a shuffle buffer.</summary>
    public bool CanShuffle => true;

    /// <inheritdoc/>
    public DataViewSchema Schema { get; }

    /// <summary>The number of rows when the format knows it without reading the data and no record may be skipped; otherwise null.</summary>
    public long? GetRowCount() => Options.SkipBadRecords ? null : Source.Count;

    /// <inheritdoc/>
    public DataViewRowCursor GetRowCursor(IEnumerable<DataViewSchema.Column> columnsNeeded, Random? rand = null)
    {
        ArgumentNullException.ThrowIfNull(columnsNeeded);
        var active = new bool[Schema.Count];
        foreach (var column in columnsNeeded)
        {
            if (column.Index < 0 || column.Index >= Schema.Count || Schema[column.Index].Name != column.Name)
                throw new ArgumentException($"Column '{column.Name}' is not a column of this data view.", nameof(columnsNeeded));
            active[column.Index] = true;
        }
        int cursor = Interlocked.Increment(ref _cursors) - 1;
        rand ??= Options.Shuffle ? new Random(unchecked(Options.Seed + cursor)) : null;
        return new DatasetRowCursor(this, active, rand, new BadRecordHandler(Options.SkipBadRecords, RecordSkipped));
    }

    /// <summary>One cursor: files are read in sequence, and the consumer (a CLIP stage) parallelizes decoding.</summary>
    public DataViewRowCursor[] GetRowCursorSet(IEnumerable<DataViewSchema.Column> columnsNeeded, int n, Random? rand = null) =>
        [GetRowCursor(columnsNeeded, rand)];

    private void RecordSkipped(ClipDatasetException error)
    {
        Interlocked.Increment(ref _skipped);
        lock (_recent)
        {
            _recent.Enqueue(error);
            while (_recent.Count > RecentSkipLimit)
                _recent.Dequeue();
        }
        if (_host is not null)
        {
            using var channel = _host.Start("SkipBadRecords");
            channel.Warning($"Skipped a bad record: {error.Message}");
        }
    }
}
