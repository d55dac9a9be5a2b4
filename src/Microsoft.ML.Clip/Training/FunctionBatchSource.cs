using System;

namespace Microsoft.ML.Clip.Training;

/// <summary>
/// An <see cref="ITrainingBatchSource"/> whose batches a function makes: for tensors prepared in memory (benchmarks,
/// tests, data that is not an IDataView). The function gets the epoch and the global batch's index and returns this
/// process's rows of it, or null when the epoch ends.
/// </summary>
public sealed class FunctionBatchSource : ITrainingBatchSource
{
    private readonly Func<int, long, SourceBatch?> _batch;

    /// <param name="rowCount">Rows per epoch over all processes.</param>
    /// <param name="batch">(epoch, global batch index) → this process's rows of that batch, or null at the epoch's end.</param>
    public FunctionBatchSource(long rowCount, Func<int, long, SourceBatch?> batch)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(rowCount);
        ArgumentNullException.ThrowIfNull(batch);
        RowCount = rowCount;
        _batch = batch;
    }

    /// <inheritdoc/>
    public long RowCount { get; }

    /// <inheritdoc/>
    public long SkippedRows => 0;

    /// <inheritdoc/>
    public ITrainingBatchReader OpenEpoch(int epoch) => new Reader(this, epoch);

    private sealed class Reader(FunctionBatchSource source, int epoch) : ITrainingBatchReader
    {
        private long _next;

        public SourceBatch? Next() => source._batch(epoch, _next++);

        public void Dispose() { }
    }
}
