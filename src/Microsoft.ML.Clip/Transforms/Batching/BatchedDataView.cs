using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Model.OnnxConverter;

namespace Microsoft.ML.Clip.Transforms.Batching;

/// <summary>
/// An IDataView that adds a <see cref="BatchedRowMapper"/>'s columns to its input, computing them a batch at a
/// time. Two cursors walk the input in the same order: a look-ahead one, on worker threads, feeds batches
/// through read → prepare → compute, so the next batch is decoded and preprocessed while the model runs on
/// the current one; a lagging one serves the input's own columns for the row the caller is on. Memory stays
/// bounded by a few batches whatever the row count.
/// </summary>
/// <remarks>
/// It is a data transform of ML.NET's kind (<see cref="ITransformCanSaveOnnx"/>) so that <c>ConvertToOnnx</c>, which
/// walks a transformed view back to its source, finds the stage and asks the mapper for its ONNX nodes.
/// </remarks>
internal sealed class BatchedDataView : ITransformCanSaveOnnx
{
    // Batches allowed to wait between stages: enough to overlap the stages, small enough to bound memory.
    private const int QueueDepth = 2;

    private readonly IDataView _input;
    private readonly BatchedRowMapper _mapper;

    private readonly Action<ModelSaveContext> _save;

    public BatchedDataView(IDataView input, BatchedRowMapper mapper, Action<ModelSaveContext> save)
    {
        _input = input;
        _mapper = mapper;
        _save = save;
        var builder = new DataViewSchema.Builder();
        builder.AddColumns(input.Schema);
        foreach (var column in mapper.OutputColumns)
            builder.AddColumn(column.Name, column.Type, column.Annotations);
        Schema = builder.ToSchema();
    }

    public bool CanShuffle => _input.CanShuffle;

    /// <summary>The view this stage reads.</summary>
    public IDataView Source => _input;

    /// <summary>Saves the stage that made this view (as <c>mlContext.Model.Save</c> does).</summary>
    void ICanSaveModel.Save(ModelSaveContext ctx) => _save(ctx);

    /// <summary>True: the mapper either writes its nodes or fails with an error that says why it cannot.</summary>
    bool ICanSaveOnnx.CanSaveOnnx(OnnxContext ctx) => true;

    void ISaveAsOnnx.SaveAsOnnx(OnnxContext ctx) => _mapper.SaveAsOnnx(ctx);

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
        var lag = SerialCursor.Create(_input, lagColumns, seed is int s1 ? new Random(s1) : null);
        if (!anyOutput)
            return new Cursor(this, lag, null);
        var aheadColumns = _mapper.InputColumns.Select(i => _input.Schema[i]);
        var ahead = SerialCursor.Create(_input, aheadColumns, seed is int s2 ? new Random(s2) : null);
        return new Cursor(this, lag, new ReadAheadPipeline(_mapper.CreateSession(ahead), ahead, _mapper.BatchSize, QueueDepth));
    }

    // One cursor is the parallelism this view offers: batching already keeps every core busy in the model.
    public DataViewRowCursor[] GetRowCursorSet(IEnumerable<DataViewSchema.Column> columnsNeeded, int n, Random? rand = null)
        => [GetRowCursor(columnsNeeded, rand)];

    private sealed class Cursor : DataViewRowCursor
    {
        private readonly BatchedDataView _parent;
        private readonly DataViewRowCursor _lag;
        private readonly ReadAheadPipeline? _pipeline;
        private readonly int _inputCount;
        private RowBatch? _batch;
        private int _slot = -1;
        private long _position = -1;
        private bool _disposed;

        public Cursor(BatchedDataView parent, DataViewRowCursor lag, ReadAheadPipeline? pipeline)
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
            return OutputGetters.Create<TValue>(column.Name, column.Type, () => _batch is null
                ? throw new InvalidOperationException("The cursor is not on a row: call MoveNext first.")
                : _batch.Output(output, _slot));
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
