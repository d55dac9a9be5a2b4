using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Runtime;

namespace Microsoft.ML.Clip.Transforms.Batching;

/// <summary>
/// Base of the library's TorchSharp transformers: <see cref="Transform"/> computes whole batches with
/// read-ahead (<see cref="BatchedDataView"/>), while PredictionEngine and other row-to-row users get the same
/// computation one row at a time (<see cref="SingleRowMapper"/>). Saving is the subclass's
/// <see cref="RowToRowTransformerBase.SaveModel"/>.
/// </summary>
// ITransformer is re-implemented here because RowToRowTransformerBase's Transform and GetOutputSchema are
// not virtual: callers holding an ITransformer (TransformerChain, Model.Load users) and callers holding the
// concrete type both reach the batched versions below.
public abstract class BatchedTransformerBase : RowToRowTransformerBase, ITransformer
{
    private protected BatchedTransformerBase(IHost host) : base(host) { }

    /// <summary>Creates the batched computation for inputs of <paramref name="inputSchema"/>; validates the input columns.</summary>
    private protected abstract BatchedRowMapper CreateBatchedMapper(DataViewSchema inputSchema);

    /// <summary>Adds this transformer's columns to <paramref name="input"/>, computed a batch at a time.</summary>
    public new IDataView Transform(IDataView input)
    {
        Host.CheckValue(input, nameof(input));
        return new BatchedDataView(input, CreateBatchedMapper(input.Schema), SaveModel);
    }

    /// <summary>Output schema: the input's columns followed by this transformer's.</summary>
    public new DataViewSchema GetOutputSchema(DataViewSchema inputSchema)
    {
        Host.CheckValue(inputSchema, nameof(inputSchema));
        var builder = new DataViewSchema.Builder();
        builder.AddColumns(inputSchema);
        foreach (var column in CreateBatchedMapper(inputSchema).OutputColumns)
            builder.AddColumn(column.Name, column.Type, column.Annotations);
        return builder.ToSchema();
    }

    /// <summary>ML.NET's row-by-row mapper (PredictionEngine and other one-row readers), running the batched computation one row at a time.</summary>
    public override IRowMapper MakeRowMapper(DataViewSchema schema) =>
        new SingleRowMapper(Host, this, CreateBatchedMapper(schema), SaveModel);
}
