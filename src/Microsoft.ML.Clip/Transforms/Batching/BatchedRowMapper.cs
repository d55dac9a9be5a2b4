using System;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Model.OnnxConverter;

namespace Microsoft.ML.Clip.Transforms.Batching;

/// <summary>
/// The batched core of a row-to-row stage: the output columns it adds, the input columns it reads, and
/// sessions that compute a batch of rows at a time. <see cref="BatchedDataView"/> drives it over a whole
/// IDataView (reading ahead on worker threads); <see cref="SingleRowMapper"/> drives it one row at a time for
/// PredictionEngine.
/// </summary>
internal abstract class BatchedRowMapper
{
    protected BatchedRowMapper(DataViewSchema inputSchema, int batchSize)
    {
        if (batchSize < 1) throw new ArgumentOutOfRangeException(nameof(batchSize), batchSize, "The batch size must be at least 1.");
        InputSchema = inputSchema;
        BatchSize = batchSize;
    }

    public DataViewSchema InputSchema { get; }

    /// <summary>Rows per batch when scoring a whole IDataView.</summary>
    public int BatchSize { get; }

    /// <summary>The columns this stage adds, all float vectors of known size.</summary>
    public abstract DataViewSchema.DetachedColumn[] OutputColumns { get; }

    /// <summary>Input columns (indices into <see cref="InputSchema"/>) needed to compute the outputs.</summary>
    public abstract int[] InputColumns { get; }

    /// <summary>Starts a session reading rows from <paramref name="input"/> (whose needed columns are active).</summary>
    public abstract BatchSession CreateSession(DataViewRow input);

    /// <summary>
    /// Writes this stage's computation into ML.NET's ONNX conversion (<c>mlContext.Model.ConvertToOnnx</c>): its output
    /// columns from the graph values of its input columns.
    /// </summary>
    /// <exception cref="NotSupportedException">The stage, or its input columns, cannot be expressed in ONNX; the message says what can.</exception>
    public virtual void SaveAsOnnx(OnnxContext context) =>
        throw new NotSupportedException($"{GetType().DeclaringType?.Name ?? GetType().Name} cannot be converted to ONNX.");
}

/// <summary>
/// Computes the outputs of batches of rows read from one input row (cursor). Calls happen in this order for
/// each batch: <see cref="ReadRow"/> for each row (on the thread that moves the input cursor), then
/// <see cref="Prepare"/> (row-independent CPU work such as image decoding; may run in parallel inside), then
/// <see cref="Compute"/> (the model). Different batches may be in different phases at the same time, on
/// different threads, so all per-batch state lives in the <see cref="RowBatch"/>.
/// </summary>
internal abstract class BatchSession : IDisposable
{
    /// <summary>Creates an empty batch holding up to <paramref name="capacity"/> rows.</summary>
    public abstract RowBatch CreateBatch(int capacity);

    /// <summary>Copies what the input row's current position needs into slot <paramref name="slot"/>. Must not keep references to getter buffers.</summary>
    public abstract void ReadRow(RowBatch batch, int slot, long rowIndex);

    /// <summary>Per-row preprocessing of the batch's <see cref="RowBatch.Count"/> rows.</summary>
    public virtual void Prepare(RowBatch batch) { }

    /// <summary>Fills <see cref="RowBatch.Outputs"/> for the batch's rows.</summary>
    public abstract void Compute(RowBatch batch);

    /// <summary>
    /// The exception to report when moving the input cursor failed before row <paramref name="position"/>
    /// (0-based, in this cursor's order) could be read; by default the error itself.
    /// </summary>
    public virtual Exception DescribeReadFailure(Exception error, long position) => error;

    public virtual void Dispose() { }
}

/// <summary>A batch of rows in flight: the subclass holds inputs, <see cref="Outputs"/> the results.</summary>
internal class RowBatch
{
    /// <param name="capacity">Rows the batch can hold.</param>
    /// <param name="outputSizes">Length of each output vector column.</param>
    public RowBatch(int capacity, int[] outputSizes)
    {
        Capacity = capacity;
        OutputSizes = outputSizes;
        Outputs = Array.ConvertAll(outputSizes, size => new float[capacity * size]);
        RowIndices = new long[capacity];
    }

    public int Capacity { get; }

    /// <summary>Rows read into this batch.</summary>
    public int Count { get; set; }

    /// <summary>Position of each row in the input (for error messages).</summary>
    public long[] RowIndices { get; }

    public int[] OutputSizes { get; }

    /// <summary>One flat [Capacity × size] array per output column.</summary>
    public float[][] Outputs { get; }

    public Span<float> Output(int column, int slot) => Outputs[column].AsSpan(slot * OutputSizes[column], OutputSizes[column]);
}
