using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using Microsoft.ML;
using Microsoft.ML.Clip.Transforms;
using Microsoft.ML.Data;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace Microsoft.ML.Clip.Tests.Foundation;

/// <summary>
/// The library's transformers live inside ML.NET model zips: saved with Model.Save in a pipeline between
/// standard ML.NET stages, loaded in a separate process by a plain Model.Load, scored identically.
/// </summary>
public class PersistenceTests
{
    public sealed class Row
    {
        public float A { get; set; }
        [VectorType(3)] public float[] B { get; set; } = [];
        public float Label { get; set; }
    }

    public sealed class Prediction
    {
        [VectorType(2)] public float[] Projected { get; set; } = [];
        public float Score { get; set; }
    }

    private static List<Row> MakeRows(int count, int seed)
    {
        var random = new Random(seed);
        return Enumerable.Range(0, count).Select(_ =>
        {
            var b = new[] { (float)random.NextDouble(), (float)random.NextDouble(), (float)random.NextDouble() };
            float a = (float)random.NextDouble();
            return new Row { A = a, B = b, Label = 2 * a - b[1] + 0.1f * (float)random.NextDouble() };
        }).ToList();
    }

    private static (ITransformer model, IDataView data) FitPipeline(MLContext mlContext)
    {
        var data = mlContext.Data.LoadFromEnumerable(MakeRows(200, seed: 1));
        var generator = manual_seed(7);
        var weight = randn(2, 4, generator: generator);
        var bias = randn(2, generator: generator);
        var pipeline = mlContext.Transforms.Concatenate("Features", nameof(Row.A), nameof(Row.B))
            .Append(mlContext.Transforms.ProjectLinear("Projected", weight, bias, inputColumnName: "Features", normalize: true))
            .Append(mlContext.Regression.Trainers.Sdca(labelColumnName: "Label", featureColumnName: "Projected", maximumNumberOfIterations: 20));
        return (pipeline.Fit(data), data);
    }

    [Fact]
    public void ProjectionMatchesTorchSharpComputation()
    {
        var mlContext = new MLContext(seed: 0);
        var weight = tensor(new float[] { 1, 0, 2, 0, 0, 1, 0, -1 }, new long[] { 2, 4 });
        var bias = tensor(new float[] { 0.5f, -0.5f });
        var rows = new[] { new Row { A = 1, B = [2, 3, 4] } };
        var data = mlContext.Data.LoadFromEnumerable(rows);
        var transformed = mlContext.Transforms.Concatenate("Features", "A", "B")
            .Append(mlContext.Transforms.ProjectLinear("Projected", weight, bias, "Features"))
            .Fit(data).Transform(data);
        var projected = transformed.GetColumn<float[]>("Projected").Single();
        // [1,2,3,4]·[1,0,2,0] + 0.5 = 7.5 ; [1,2,3,4]·[0,1,0,-1] - 0.5 = -2.5
        Assert.Equal(new[] { 7.5f, -2.5f }, projected);
    }

    [Fact]
    public void WrongInputColumnTypeNamesColumnAndExpectedType()
    {
        var mlContext = new MLContext(seed: 0);
        var data = mlContext.Data.LoadFromEnumerable(MakeRows(3, 0));
        var estimator = mlContext.Transforms.ProjectLinear("P", randn(2, 4), inputColumnName: "B");
        var ex = Assert.ThrowsAny<ArgumentOutOfRangeException>(() => estimator.Fit(data).Transform(data).Preview());
        Assert.Contains("B", ex.Message);
        Assert.Contains("Vector<Single, 4>", ex.Message);
        var missing = Assert.ThrowsAny<ArgumentOutOfRangeException>(
            () => mlContext.Transforms.ProjectLinear("P", randn(2, 4), inputColumnName: "Nope").Fit(data));
        Assert.Contains("Nope", missing.Message);
    }

    [Trait("Category", "Slow")]
    [Fact]
    public void SavedPipelineLoadsInAnotherProcessWithIdenticalOutputs()
    {
        using var temp = new TempDirectory();
        var mlContext = new MLContext(seed: 0);
        var (model, trainData) = FitPipeline(mlContext);
        string modelPath = temp.File("model.zip");
        mlContext.Model.Save(model, trainData.Schema, modelPath);

        var scoreData = mlContext.Data.LoadFromEnumerable(MakeRows(50, seed: 2));
        var expected = model.Transform(scoreData);
        var actual = ModelLoadProbe.TransformInNewProcess(mlContext, modelPath, scoreData, temp.Path);

        var expectedProjected = expected.GetColumn<float[]>("Projected").ToArray();
        var actualProjected = actual.GetColumn<float[]>("Projected").ToArray();
        Assert.Equal(50, actualProjected.Length);
        for (int i = 0; i < expectedProjected.Length; i++)
            Assert.Equal(expectedProjected[i], actualProjected[i]); // bit-for-bit: same weights, same kernels
        Assert.Equal(expected.GetColumn<float>("Score").ToArray(), actual.GetColumn<float>("Score").ToArray());
    }

    [Fact]
    public void PredictionEngineOnReloadedModelMatchesBatchScoring()
    {
        using var temp = new TempDirectory();
        var mlContext = new MLContext(seed: 0);
        var (model, trainData) = FitPipeline(mlContext);
        string modelPath = temp.File("model.zip");
        mlContext.Model.Save(model, trainData.Schema, modelPath);

        var reloaded = new MLContext(seed: 0).Model.Load(modelPath, out var schema);
        Assert.Contains(schema, c => c.Name == "B");
        var rows = MakeRows(10, seed: 3);
        var batch = model.Transform(mlContext.Data.LoadFromEnumerable(rows));
        var batchScores = batch.GetColumn<float>("Score").ToArray();
        var batchProjected = batch.GetColumn<float[]>("Projected").ToArray();

        using var engine = mlContext.Model.CreatePredictionEngine<Row, Prediction>(reloaded);
        using var originalEngine = mlContext.Model.CreatePredictionEngine<Row, Prediction>(model);
        for (int i = 0; i < rows.Count; i++)
        {
            var prediction = engine.Predict(rows[i]);
            var original = originalEngine.Predict(rows[i]);
            // Reloaded and original models run the same kernels on the same row: identical bits.
            Assert.Equal(original.Score, prediction.Score);
            Assert.Equal(original.Projected, prediction.Projected);
            // A batch of one may take another BLAS kernel than a batch of ten: equal up to float rounding. The
            // projection is a normalized 4→2 product (components ≤ 1, a 4-term fp32 dot: ≤ 4 × 6e-8 ≈ 2.4e-7, so
            // 1e-6); SDCA's score is a 2-term linear model of those with weights of order 1–10 (≤ ~1e-5). Rows
            // have different scores (checked below).
            Assert.Equal(batchScores[i], prediction.Score, 1e-5f);
            for (int j = 0; j < 2; j++)
                Assert.Equal(batchProjected[i][j], prediction.Projected[j], 1e-6f);
        }
        Assert.NotEqual(batchScores[0], batchScores[1]);
    }
}
