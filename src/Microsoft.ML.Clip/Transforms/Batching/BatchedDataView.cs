using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using Microsoft.ML;
using Microsoft.ML.Data;

namespace Microsoft.ML.Clip.Transforms.Batching;

/// <summary>
/// An IDataView that adds a <see cref="BatchedRowMapper"/>'s columns to its input, computing them a batch at a
/// time. Two cursors walk the input in the same order: a look-ahead one, on worker threads, feeds batches
/// through read → prepare → compute, so the next batch is decoded and preprocessed while the model runs on
/// the current one; a lagging one serves the input's own columns for the row the caller is on. Memory stays
/// bounded by a few batches whatever the row count.
/// </summary>
internal sealed class BatchedDataView : IDataView
{
    // Batches allowed to wait between stages: enough to overlap the stages, small enough to bound memory.
    private const int QueueDepth = 2;

    private readonly IDataView _input;
    private readonly BatchedRowMapper _mapper;

    public BatchedDataView(IDataView input, BatchedRowMapper mapper)
    {
        _input = input;
        _mapper = mapper;
        var builder = new DataViewSchema.Builder();
        builder.AddColumns(input.Schema);
        foreach (var column in mapper.OutputColumns)
            builder.AddColumn(column.Name, column.Type, column.Annotations);
        Schema = builder.ToSchema();
    }

    public bool CanShuffle => _input.CanShuffle;

    public DataViewSchema Schema { get; }

    public long? GetRowCount() => _input.GetRowCount();

    public DataViewRowCursor GetRowCursor(IEnumerable<DataViewSchema.Column> columnsNeeded, Random? rand = null)
    {
        var needed = columnsNeeded.Select(c => c.Index).ToHashSet();
        int inputCount = _input.Schema.Count;
        bool anyOutput = needed.Any(i => i >= inputCount);
        // Shuffled input: both cursors must see the same order, so each gets a Random with the same seed.
        int? seed = rand?.Next();
        var lagColumns = _input.Schema.Where(c => needed.Contains(c.Index));
        var lag = _input.GetRowCursor(lagColumns, seed is int s1 ? new Random(s1) : null);
        if (!anyOutput)
            return new Cursor(this, lag, null);
        var aheadColumns = _mapper.InputColumns.Select(i => _input.Schema[i]);
        var ahead = _input.GetRowCursor(aheadColumns, seed is int s2 ? new Random(s2) : null);
        return new Cursor(this, lag, new Pipeline(_mapper, ahead));
    }

    // One cursor is the parallelism this view offers: batching already keeps every core busy in the model.
    public DataViewRowCursor[] GetRowCursorSet(IEnumerable<DataViewSchema.Column> columnsNeeded, int n, Random? rand = null)
        => [GetRowCursor(columnsNeeded, rand)];

    /// <summary>The worker side: read → prepare on one task, compute on another, bounded queues between.</summary>
    private sealed class Pipeline : IDisposable
    {
        private readonly BatchSession _session;
        private readonly DataViewRowCursor _ahead;
        private readonly BlockingCollection<RowBatch> _prepared = new(QueueDepth);
        private readonly BlockingCollection<RowBatch> _computed = new(QueueDepth);
        private readonly CancellationTokenSource _cancel = new();
        private readonly Task _reader, _computer;
        private readonly int _batchSize;

        public Pipeline(BatchedRowMapper mapper, DataViewRowCursor ahead)
        {
            _ahead = ahead;
            _batchSize = mapper.BatchSize;
            _session = mapper.CreateSession(ahead);
            _reader = Task.Factory.StartNew(ReadLoop, TaskCreationOptions.LongRunning);
            _computer = Task.Factory.StartNew(ComputeLoop, TaskCreationOptions.LongRunning);
        }

        private void ReadLoop()
        {
            try
            {
                long row = 0;
                while (!_cancel.IsCancellationRequested)
                {
                    var batch = _session.CreateBatch(_batchSize);
                    while (batch.Count < batch.Capacity && _ahead.MoveNext())
                    {
                        batch.RowIndices[batch.Count] = row;
                        _session.ReadRow(batch, batch.Count, row++);
                        batch.Count++;
                    }
                    if (batch.Count == 0) break;
                    _session.Prepare(batch);
                    _prepared.Add(batch, _cancel.Token);
                    if (batch.Count < batch.Capacity) break;
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
            var failure = _reader.Exception ?? _computer.Exception;
            if (failure is not null)
                throw failure.InnerExceptions.Count == 1 ? failure.InnerException! : failure;
            if (!_reader.IsCompleted) _reader.Wait();
            if (!_computer.IsCompleted) _computer.Wait();
            failure = _reader.Exception ?? _computer.Exception;
            if (failure is not null)
                throw failure.InnerExceptions.Count == 1 ? failure.InnerException! : failure;
            return null;
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

    private sealed class Cursor : DataViewRowCursor
    {
        private readonly BatchedDataView _parent;
        private readonly DataViewRowCursor _lag;
        private readonly Pipeline? _pipeline;
        private readonly int _inputCount;
        private RowBatch? _batch;
        private int _slot = -1;
        private long _position = -1;
        private bool _disposed;

        public Cursor(BatchedDataView parent, DataViewRowCursor lag, Pipeline? pipeline)
        {
            _parent = parent;
            _lag = lag;
            _pipeline = pipeline;
            _inputCount = parent._input.Schema.Count;
        }

        public override DataViewSchema Schema => _parent.Schema;

        public override long Position => _position;

        public override long Batch => 0;

        public override ValueGetter<DataViewRowId> GetIdGetter() => _lag.GetIdGetter();

        public override bool IsColumnActive(DataViewSchema.Column column) =>
            column.Index < _inputCount ? _lag.IsColumnActive(_lag.Schema[column.Index]) : _pipeline is not null;

        public override bool MoveNext()
        {
            if (_disposed) return false;
            if (!_lag.MoveNext()) return false;
            _position++;
            if (_pipeline is not null)
            {
                if (_batch is null || ++_slot >= _batch.Count)
                {
                    _batch = _pipeline.Next()
                        ?? throw new InvalidOperationException("The input data view returned fewer rows on a second pass than on the first; it must be deterministic.");
                    _slot = 0;
                }
            }
            return true;
        }

        public override ValueGetter<TValue> GetGetter<TValue>(DataViewSchema.Column column)
        {
            if (column.Index < _inputCount)
                return _lag.GetGetter<TValue>(_lag.Schema[column.Index]);
            if (_pipeline is null)
                throw new InvalidOperationException($"Column '{column.Name}' was not requested when the cursor was created.");
            int output = column.Index - _inputCount;
            if (typeof(TValue) != typeof(VBuffer<float>))
                throw new InvalidOperationException($"Column '{column.Name}' holds VBuffer<Single> values, not {typeof(TValue).Name}.");
            ValueGetter<VBuffer<float>> getter = (ref VBuffer<float> value) =>
            {
                if (_batch is null) throw new InvalidOperationException("The cursor is not on a row: call MoveNext first.");
                var source = _batch.Output(output, _slot);
                var editor = VBufferEditor.Create(ref value, source.Length);
                source.CopyTo(editor.Values);
                value = editor.Commit();
            };
            return (ValueGetter<TValue>)(Delegate)getter;
        }

        protected override void Dispose(bool disposing)
        {
            if (_disposed) return;
            _disposed = true;
            if (disposing)
            {
                _pipeline?.Dispose();
                _lag.Dispose();
            }
            base.Dispose(disposing);
        }
    }
}
