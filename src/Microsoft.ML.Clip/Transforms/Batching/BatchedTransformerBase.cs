using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Runtime;

namespace Microsoft.ML.Clip.Transforms.Batching;

/// <summary>
/// Base of the library's TorchSharp transformers: <see cref="Transform"/> computes whole batches with read-ahead
/// (<see cref="BatchedDataView"/>), while PredictionEngine and other row-to-row users get the same computation one row
/// at a time (<see cref="SingleRowMapper"/>, through <see cref="ITransformer.GetRowToRowMapper"/>). A subclass supplies
/// the batched computation and its saving; loading is its own <c>[LoadableClass]</c> loader.
/// </summary>
/// <remarks>
/// It implements <see cref="ITransformer"/> itself rather than deriving from ML.NET's <c>RowToRowTransformerBase</c>,
/// whose <c>Transform</c> and <c>GetOutputSchema</c> are not virtual: every caller, whether it holds the concrete type or an
/// <see cref="ITransformer"/> (a TransformerChain, <c>Model.Load</c>), reaches the batched versions.
/// </remarks>
public abstract class BatchedTransformerBase : ITransformer
{
    private protected BatchedTransformerBase(IHost host) => Host = host;

    /// <summary>The transformer's host (checks, exceptions, cancellation).</summary>
    private protected IHost Host { get; }

    /// <summary>Creates the batched computation for inputs of <paramref name="inputSchema"/>; validates the input columns.</summary>
    private protected abstract BatchedRowMapper CreateBatchedMapper(DataViewSchema inputSchema);

    /// <summary>Writes the transformer into an ML.NET model zip; a plain <c>Model.Load</c> reads it back as the same type.</summary>
    private protected abstract void SaveModel(ModelSaveContext ctx);

    /// <summary>Adds this transformer's columns to <paramref name="input"/>, computed a batch at a time.</summary>
    public IDataView Transform(IDataView input)
    {
        Host.CheckValue(input, nameof(input));
        return new BatchedDataView(input, CreateBatchedMapper(input.Schema), SaveModel);
    }

    /// <summary>Output schema: the input's columns followed by this transformer's.</summary>
    public DataViewSchema GetOutputSchema(DataViewSchema inputSchema)
    {
        Host.CheckValue(inputSchema, nameof(inputSchema));
        var builder = new DataViewSchema.Builder();
        builder.AddColumns(inputSchema);
        foreach (var column in CreateBatchedMapper(inputSchema).OutputColumns)
            builder.AddColumn(column.Name, column.Type, column.Annotations);
        return builder.ToSchema();
    }

    bool ITransformer.IsRowToRowMapper => true;

    /// <summary>ML.NET's row-by-row mapping (PredictionEngine and other one-row readers): the batched computation one row at a time.</summary>
    IRowToRowMapper ITransformer.GetRowToRowMapper(DataViewSchema inputSchema)
    {
        Host.CheckValue(inputSchema, nameof(inputSchema));
        return new RowToRowMapperTransform(Host, new EmptyDataView(Host, inputSchema), MakeRowMapper(inputSchema), MakeRowMapper);
    }

    void ICanSaveModel.Save(ModelSaveContext ctx) => SaveModel(ctx);

    /// <summary>The row mapper of a <c>SignatureLoadRowMapper</c> loader and of <see cref="ITransformer.GetRowToRowMapper"/>.</summary>
    private protected IRowMapper MakeRowMapper(DataViewSchema schema) => new SingleRowMapper(this, CreateBatchedMapper(schema), SaveModel);
}
