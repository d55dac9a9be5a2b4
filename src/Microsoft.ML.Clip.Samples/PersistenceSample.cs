using System;
using System.IO;
using System.Linq;
using Microsoft.ML;
using Microsoft.ML.Data;
using static TorchSharp.torch;

namespace Microsoft.ML.Clip.Samples;

/// <summary>
/// Fits a pipeline (standard ML.NET featurization, a TorchSharp projection stage from this library, an
/// SDCA regression trainer), saves it with Model.Save, reloads it with a plain Model.Load and checks that
/// batch scoring and a PredictionEngine give the same numbers as before the round trip.
/// </summary>
internal static class PersistenceSample
{
    private sealed class House
    {
        public float Size { get; set; }
        public float Rooms { get; set; }
        public float Age { get; set; }
        public float Price { get; set; }
    }

    private sealed class PricePrediction
    {
        [VectorType(2)] public float[] Projected { get; set; } = [];
        public float Score { get; set; }
    }

    public static int Run(string[] args)
    {
        string output = args.Length > 0 ? args[0] : Path.Combine(Path.GetTempPath(), "clipmlnet-persistence-sample.zip");
        var mlContext = new MLContext(seed: 1);
        var random = new Random(1);
        var houses = Enumerable.Range(0, 500).Select(_ =>
        {
            float size = 50 + 150 * (float)random.NextDouble(), rooms = random.Next(1, 7), age = 60 * (float)random.NextDouble();
            return new House { Size = size, Rooms = rooms, Age = age, Price = 2 * size + 10 * rooms - age + 5 * (float)random.NextDouble() };
        }).ToList();
        var data = mlContext.Data.LoadFromEnumerable(houses);

        // A fixed 2x3 projection held as a TorchSharp tensor (e.g. a head exported from PyTorch).
        var weight = tensor(new float[] { 1f, 0.5f, 0f, 0f, 0.2f, -1f }, new long[] { 2, 3 });
        var pipeline = mlContext.Transforms.Concatenate("Features", nameof(House.Size), nameof(House.Rooms), nameof(House.Age))
            .Append(mlContext.Transforms.NormalizeMinMax("Features"))
            .Append(mlContext.Transforms.ProjectLinear("Projected", weight, inputColumnName: "Features"))
            .Append(mlContext.Regression.Trainers.Sdca(labelColumnName: nameof(House.Price), featureColumnName: "Projected"));

        Console.WriteLine("Fitting: Concatenate -> NormalizeMinMax -> ProjectLinear (TorchSharp) -> Sdca regression");
        var model = pipeline.Fit(data);
        var before = model.Transform(data).GetColumn<float>("Score").ToArray();

        mlContext.Model.Save(model, data.Schema, output);
        Console.WriteLine($"Saved the pipeline to {output} ({new FileInfo(output).Length:N0} bytes).");

        var reloaded = new MLContext(seed: 1).Model.Load(output, out _);
        var after = reloaded.Transform(data).GetColumn<float>("Score").ToArray();
        int identical = before.Zip(after).Count(p => p.First == p.Second);
        Console.WriteLine($"Reloaded with Model.Load: {identical}/{before.Length} scores identical to the original model.");

        using var engine = mlContext.Model.CreatePredictionEngine<House, PricePrediction>(reloaded);
        var first = engine.Predict(houses[0]);
        Console.WriteLine($"PredictionEngine on the reloaded model, first house: projected [{first.Projected[0]:F4}, {first.Projected[1]:F4}], " +
                          $"predicted price {first.Score:F2} (actual {houses[0].Price:F2}; before saving {before[0]:F2}).");

        var metrics = mlContext.Regression.Evaluate(reloaded.Transform(data), labelColumnName: nameof(House.Price));
        Console.WriteLine($"Reloaded model on the training data: R² = {metrics.RSquared:F4}, RMSE = {metrics.RootMeanSquaredError:F2}.");
        return identical == before.Length && first.Score == before[0] ? 0 : 1;
    }
}
