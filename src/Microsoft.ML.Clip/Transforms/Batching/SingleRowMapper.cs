using System;
using System.Linq;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Runtime;

namespace Microsoft.ML.Clip.Transforms.Batching;

/// <summary>
/// Runs a <see cref="BatchedRowMapper"/> on one row at a time, for PredictionEngine and other row-by-row
/// consumers. The outputs of a row are computed once, on first access, and shared by all its output getters.
/// </summary>
internal sealed class SingleRowMapper(ITransformer owner, BatchedRowMapper mapper, Action<ModelSaveContext> save) : IRowMapper
{
    private readonly BatchedRowMapper _mapper = mapper;

    public DataViewSchema.DetachedColumn[] GetOutputColumns() => _mapper.OutputColumns;

    public Func<int, bool> GetDependencies(Func<int, bool> activeOutput)
    {
        bool any = Enumerable.Range(0, _mapper.OutputColumns.Length).Any(activeOutput);
        var needed = _mapper.InputColumns.ToHashSet();
        return column => any && needed.Contains(column);
    }

    void ICanSaveModel.Save(ModelSaveContext ctx) => save(ctx);

    /// <summary>The transformer this mapper computes for (what ML.NET's legacy loaders unwrap a row-mapper transform into).</summary>
    public ITransformer GetTransformer() => owner;

    public Delegate[] CreateGetters(DataViewRow input, Func<int, bool> activeOutput, out Action disposer)
    {
        var session = _mapper.CreateSession(input);
        var batch = session.CreateBatch(1);
        long computedPosition = -1;
        void EnsureComputed()
        {
            if (computedPosition == input.Position) return;
            batch.Count = 0;
            batch.RowIndices[0] = input.Position;
            session.ReadRow(batch, 0, input.Position);
            batch.Count = 1;
            session.Prepare(batch);
            session.Compute(batch);
            computedPosition = input.Position;
        }

        var getters = new Delegate[_mapper.OutputColumns.Length];
        for (int i = 0; i < getters.Length; i++)
        {
            if (!activeOutput(i)) continue;
            int column = i;
            var outputColumn = _mapper.OutputColumns[i];
            getters[i] = MakeGetter(outputColumn, () => { EnsureComputed(); return batch.Output(column, 0); });
        }
        disposer = session.Dispose;
        return getters;
    }

    private static Delegate MakeGetter(DataViewSchema.DetachedColumn column, Func<Span<float>> current) =>
        column.Type is KeyDataViewType
            ? OutputGetters.Create<uint>(column.Name, column.Type, current)
            : OutputGetters.Create<VBuffer<float>>(column.Name, column.Type, current);
}
