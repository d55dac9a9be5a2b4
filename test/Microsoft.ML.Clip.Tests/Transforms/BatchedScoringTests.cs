using System;
using System.Collections.Generic;
using System.Linq;
using Microsoft.ML;
using Microsoft.ML.Data;
using Xunit;
using static TorchSharp.torch;

namespace Microsoft.ML.Clip.Tests.Transforms;

/// <summary>Batched scoring (read-ahead on worker threads) must be indistinguishable from row-by-row scoring.</summary>
public class BatchedScoringTests
{
    public sealed class Row
    {
        public int Id { get; set; }
        [VectorType(4)] public float[] Features { get; set; } = [];
    }

    public sealed class Scored
    {
        [VectorType(3)] public float[] Projected { get; set; } = [];
    }

    private static IEnumerable<Row> Rows(int count)
    {
        // Streamed, never materialized: a deterministic generator per row.
        for (int i = 0; i < count; i++)
            yield return new Row { Id = i, Features = [i, i % 7, (i * 31) % 11, 1] };
    }

    private static ITransformer Projection(MLContext mlContext, IDataView data, bool normalize = false)
    {
        var weight = tensor(new float[] { 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 5 }, new long[] { 3, 4 });
        return mlContext.Transforms.ProjectLinear("Projected", weight, inputColumnName: "Features", normalize: normalize).Fit(data);
    }

    [Fact]
    public void RowsStayInOrderAcrossBatchBoundariesWithPassThroughColumns()
    {
        var mlContext = new MLContext(seed: 0);
        var data = mlContext.Data.LoadFromEnumerable(Rows(1000)); // 3 full batches of 256 and a partial one
        var output = Projection(mlContext, data).Transform(data);
        var ids = output.GetColumn<int>("Id").ToArray();
        var projected = output.GetColumn<float[]>("Projected").ToArray();
        Assert.Equal(Enumerable.Range(0, 1000), ids);
        for (int i = 0; i < 1000; i++)
            Assert.Equal(new float[] { i, i % 7, (i * 31) % 11 + 5 }, projected[i]);
    }

    [Fact]
    public void BatchedScoringEqualsPredictionEngine()
    {
        var mlContext = new MLContext(seed: 0);
        var data = mlContext.Data.LoadFromEnumerable(Rows(300));
        var model = Projection(mlContext, data, normalize: true);
        var batched = model.Transform(data).GetColumn<float[]>("Projected").ToArray();
        using var engine = mlContext.Model.CreatePredictionEngine<Row, Scored>(model);
        int index = 0;
        foreach (var row in Rows(300))
            Assert.Equal(batched[index++], engine.Predict(row).Projected);
    }

    [Fact]
    public void ShuffledCursorKeepsPassThroughAndOutputsAligned()
    {
        var mlContext = new MLContext(seed: 0);
        var data = mlContext.Data.Cache(mlContext.Data.LoadFromEnumerable(Rows(600)));
        var output = Projection(mlContext, data).Transform(data);
        using var cursor = output.GetRowCursor(output.Schema, new Random(3));
        var getId = cursor.GetGetter<int>(output.Schema["Id"]);
        var getProjected = cursor.GetGetter<VBuffer<float>>(output.Schema["Projected"]);
        int id = 0, rows = 0;
        VBuffer<float> projected = default;
        var seen = new List<int>();
        while (cursor.MoveNext())
        {
            getId(ref id);
            getProjected(ref projected);
            Assert.Equal((float)id, projected.GetValues()[0]);
            seen.Add(id);
            rows++;
        }
        Assert.Equal(600, rows);
        Assert.NotEqual(Enumerable.Range(0, 600), seen); // really shuffled
        Assert.Equal(Enumerable.Range(0, 600), seen.Order());
    }

    [Fact]
    public void CursorDisposedEarlyStopsWorkers()
    {
        var mlContext = new MLContext(seed: 0);
        var data = mlContext.Data.LoadFromEnumerable(Rows(100_000));
        var output = Projection(mlContext, data).Transform(data);
        using (var cursor = output.GetRowCursor(output.Schema))
        {
            for (int i = 0; i < 10; i++) Assert.True(cursor.MoveNext());
        }
        // Taking a second cursor after disposing the first must work and start from the beginning.
        Assert.Equal(0, output.GetColumn<int>("Id").First());
    }

    [Fact]
    public void ErrorsInTheInputSurfaceOnTheCallersThread()
    {
        var mlContext = new MLContext(seed: 0);
        IEnumerable<Row> Failing()
        {
            foreach (var row in Rows(400))
            {
                if (row.Id == 300) throw new InvalidOperationException("row 300 is broken");
                yield return row;
            }
        }
        var data = mlContext.Data.LoadFromEnumerable(Failing());
        var output = Projection(mlContext, mlContext.Data.LoadFromEnumerable(Rows(1))).Transform(data);
        var ex = Assert.ThrowsAny<Exception>(() => output.GetColumn<float[]>("Projected").ToArray());
        Assert.Contains("row 300 is broken", ex.ToString());
    }
}
