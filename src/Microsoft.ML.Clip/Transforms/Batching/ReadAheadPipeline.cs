using System;
using System.Collections.Concurrent;
using System.Threading;
using System.Threading.Tasks;
using Microsoft.ML;
using Microsoft.ML.Data;

namespace Microsoft.ML.Clip.Transforms.Batching;

/// <summary>
/// Runs a <see cref="BatchSession"/> over a cursor on worker threads: read → prepare on one task, compute on
/// another, bounded queues between, so every stage overlaps the consumer. Owns the session and the cursor.
/// </summary>
internal sealed class ReadAheadPipeline : IDisposable
{
    private readonly BatchSession _session;
    private readonly DataViewRowCursor _ahead;
    private readonly BlockingCollection<RowBatch> _prepared;
    private readonly BlockingCollection<RowBatch> _computed;
    private readonly CancellationTokenSource _cancel = new();
    private readonly Task _reader, _computer;
    private readonly int _batchSize;
    private readonly RowShard? _shard;

    /// <param name="session">Reads, prepares and computes the rows.</param>
    /// <param name="ahead">The cursor (owned).</param>
    /// <param name="batchSize">Rows per batch.</param>
    /// <param name="queueDepth">Batches each stage may run ahead.</param>
    /// <param name="shard">Only this process's rows of the stream (data-parallel training); null: every row.</param>
    public ReadAheadPipeline(BatchSession session, DataViewRowCursor ahead, int batchSize, int queueDepth = 2, RowShard? shard = null)
    {
        _shard = shard;
        _ahead = ahead;
        _batchSize = batchSize;
        _session = session;
        _prepared = new(queueDepth);
        _computed = new(queueDepth);
        _reader = Task.Factory.StartNew(ReadLoop, TaskCreationOptions.LongRunning);
        _computer = Task.Factory.StartNew(ComputeLoop, TaskCreationOptions.LongRunning);
    }

    private void ReadLoop()
    {
        try
        {
            // Rows are named by their row id, which survives shuffling and filtering: for ML.NET's loaders it is
            // the row's position in the input, so error messages point at the row the user can find.
            var getId = _ahead.GetIdGetter();
            DataViewRowId id = default;
            bool exhausted = false;
            long read = 0;
            while (!_cancel.IsCancellationRequested)
            {
                var batch = _session.CreateBatch(_batchSize);
                while (batch.Count < batch.Capacity)
                {
                    bool moved;
                    try { moved = _ahead.MoveNext(); }
                    catch (Exception error) when (error is not OperationCanceledException)
                    {
                        // Upstream stages may compute the values while moving (ML.NET reads images on worker
                        // threads): let the session name the column and the row that failed.
                        throw _session.DescribeReadFailure(error, read);
                    }
                    if (!moved) { exhausted = true; break; }
                    if (_shard is { } shard && !shard.Owns(read)) { read++; continue; } // another process's row: not read
                    read++;
                    getId(ref id);
                    long row = (long)id.Low;
                    batch.RowIndices[batch.Count] = row;
                    _session.ReadRow(batch, batch.Count, row);
                    batch.Count++;
                }
                if (batch.Count == 0) break;
                _session.Prepare(batch); // may leave out bad rows: Count can shrink below what was read
                _prepared.Add(batch, _cancel.Token);
                if (exhausted) break;
            }
        }
        catch (OperationCanceledException) when (_cancel.IsCancellationRequested) { }
        finally { _prepared.CompleteAdding(); }
    }

    private void ComputeLoop()
    {
        try
        {
            foreach (var batch in _prepared.GetConsumingEnumerable(_cancel.Token))
            {
                _session.Compute(batch);
                _computed.Add(batch, _cancel.Token);
            }
        }
        catch (OperationCanceledException) when (_cancel.IsCancellationRequested) { }
        finally { _computed.CompleteAdding(); }
    }

    /// <summary>The next computed batch, or null at the end; rethrows a worker's error.</summary>
    public RowBatch? Next()
    {
        if (_computed.TryTake(out var batch, Timeout.Infinite))
            return batch;
        // Completed: surface the reason if a worker failed.
        Rethrow(_reader.Exception ?? _computer.Exception);
        try { Task.WaitAll(_reader, _computer); }
        catch (AggregateException) { /* rethrown below, unwrapped */ }
        Rethrow(_reader.Exception ?? _computer.Exception);
        return null;
    }

    /// <summary>
    /// Rethrows a worker's failure as the caller would expect it: the one exception (a ClipInputException naming the
    /// row, say) rather than the task's and parallel loop's AggregateException wrappers around it.
    /// </summary>
    private static void Rethrow(AggregateException? failure)
    {
        if (failure is null) return;
        var flat = failure.Flatten();
        if (flat.InnerExceptions.Count == 1)
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(flat.InnerExceptions[0]).Throw();
        throw flat;
    }

    public void Dispose()
    {
        _cancel.Cancel();
        try { Task.WaitAll(_reader, _computer); }
        catch (AggregateException) { /* already surfaced through Next, or irrelevant after disposal */ }
        _session.Dispose();
        _ahead.Dispose();
        _cancel.Dispose();
    }
}
