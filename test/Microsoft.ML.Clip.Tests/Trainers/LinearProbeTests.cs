using System;
using System.Collections.Generic;
using System.Linq;
using Microsoft.ML;
using Microsoft.ML.Clip.Trainers;
using Microsoft.ML.Data;
using Microsoft.ML.Trainers;
using Xunit;
using Xunit.Abstractions;

namespace Microsoft.ML.Clip.Tests.Trainers;

/// <summary>
/// ClipLinearProbe: the L2 sweep lands on the known side where the answer is known, reports every value it
/// tried, refits with the winner on all rows, and returns a plain ML.NET model.
/// </summary>
public class LinearProbeTests
{
    private readonly ITestOutputHelper _output;

    public LinearProbeTests(ITestOutputHelper output) => _output = output;

    public sealed class Row
    {
        public float Label { get; set; }
        public float[] Features { get; set; } = [];
    }

    private static double Gaussian(Random random) =>
        Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble());

    /// <summary>
    /// Needs strong regularization: the label depends on feature 0 only (shift ±1.5, 10% flipped labels) and the
    /// other features are noise; with about as many features as training rows the unregularized model
    /// interpolates the noise.
    /// </summary>
    private static List<Row> FewNoisyRows(int count, int dimension, int seed)
    {
        var random = new Random(seed);
        return Enumerable.Range(0, count).Select(_ =>
        {
            bool y = random.Next(2) == 1;
            var x = new float[dimension];
            for (int j = 0; j < dimension; j++)
                x[j] = (float)Gaussian(random);
            x[0] += y ? 1.5f : -1.5f;
            if (random.NextDouble() < 0.1)
                y = !y;
            return new Row { Label = y ? 1 : 0, Features = x };
        }).ToList();
    }

    /// <summary>
    /// Needs weak regularization: features (a + b, a)·scale with a ~ N(0, 10²), b ~ N(0, 1) and the label the
    /// sign of b plus a little noise. The separating direction (1, −1) needs large weights, while the direction
    /// strong L2 shrinks towards (the class-mean difference, ≈ (1, 0)) is nearly useless.
    /// </summary>
    private static List<Row> LargeCorrelatedRows(int count, float scale, int seed)
    {
        var random = new Random(seed);
        return Enumerable.Range(0, count).Select(_ =>
        {
            double a = 10 * Gaussian(random), b = Gaussian(random);
            bool y = b + 0.05 * Gaussian(random) > 0;
            return new Row { Label = y ? 1 : 0, Features = [(float)((a + b) * scale), (float)(a * scale)] };
        }).ToList();
    }

    private static IDataView Load(MLContext mlContext, List<Row> rows)
    {
        var schema = SchemaDefinition.Create(typeof(Row));
        schema[nameof(Row.Features)].ColumnType = new VectorDataViewType(NumberDataViewType.Single, rows[0].Features.Length);
        return mlContext.Data.LoadFromEnumerable(rows, schema);
    }

    private void Print(ClipLinearProbeSweep sweep)
    {
        foreach (var trial in sweep.Trials.OrderBy(t => t.L2Regularization))
            _output.WriteLine($"L2 {trial.L2Regularization,12:G6}  accuracy {trial.ValidationAccuracy:F4}  {trial.Stage} {trial.Step}");
        _output.WriteLine($"chosen {sweep.ChosenL2Regularization:G6} ({sweep.ChosenValidationAccuracy:F4}); " +
            $"rows {sweep.TrainingRowCount}/{sweep.ValidationRowCount}/{sweep.FinalRowCount}");
    }

    private static void AssertChosenIsBest(ClipLinearProbeSweep sweep)
    {
        double max = sweep.Trials.Max(t => t.ValidationAccuracy);
        Assert.Equal(max, sweep.ChosenValidationAccuracy);
        // Ties go to the larger (more regularized) value.
        Assert.Equal(sweep.Trials.Where(t => t.ValidationAccuracy == max).Max(t => t.L2Regularization), sweep.ChosenL2Regularization);
    }

    [Fact]
    public void FewNoisyRowsChooseStrongRegularization()
    {
        var mlContext = new MLContext(seed: 1);
        var train = Load(mlContext, FewNoisyRows(50, 40, seed: 3));
        var keys = mlContext.Transforms.Conversion.MapValueToKey("Label").Fit(train);
        var validation = keys.Transform(Load(mlContext, FewNoisyRows(2000, 40, seed: 4)));
        var probe = mlContext.MulticlassClassification.Trainers.ClipLinearProbe(new ClipLinearProbeOptions { ValidationData = validation });

        var sweep = probe.Fit(keys.Transform(train)).Sweep;
        Print(sweep);
        Assert.True(sweep.ChosenL2Regularization >= 1, $"chose L2 = {sweep.ChosenL2Regularization}");
        AssertChosenIsBest(sweep);
        double unregularized = sweep.Trials.Single(t => t.L2Regularization == 1e-6f).ValidationAccuracy;
        Assert.True(sweep.ChosenValidationAccuracy > unregularized + 0.02,
            $"regularization should clearly help: {sweep.ChosenValidationAccuracy} vs {unregularized} at 1e-6");
        Assert.Equal((50, 2000, 2050), (sweep.TrainingRowCount, sweep.ValidationRowCount, sweep.FinalRowCount));
    }

    [Fact]
    public void LargeCleanDataChooseWeakRegularization()
    {
        var mlContext = new MLContext(seed: 1);
        var data = Load(mlContext, LargeCorrelatedRows(2000, scale: 0.003f, seed: 3));
        var pipeline = mlContext.Transforms.Conversion.MapValueToKey("Label");
        var probe = mlContext.MulticlassClassification.Trainers.ClipLinearProbe(new ClipLinearProbeOptions { Seed = 5 });

        var sweep = pipeline.Append(probe).Fit(data).LastTransformer.Sweep;
        Print(sweep);
        Assert.True(sweep.ChosenL2Regularization <= 1e-2f, $"chose L2 = {sweep.ChosenL2Regularization}");
        AssertChosenIsBest(sweep);
        double strong = sweep.Trials.Single(t => t.L2Regularization == 1f).ValidationAccuracy;
        Assert.True(sweep.ChosenValidationAccuracy > strong + 0.05, $"{sweep.ChosenValidationAccuracy} vs {strong} at L2 = 1");
        // 20% held out; the final model sees every row.
        Assert.Equal(2000, sweep.TrainingRowCount + sweep.ValidationRowCount);
        Assert.InRange(sweep.ValidationRowCount, 300, 500);
        Assert.Equal(2000, sweep.FinalRowCount);
    }

    [Fact]
    public void ClassSortedRowsAreSplitAtRandomNotByPosition()
    {
        // Five well separated classes stored one after another. A split by position would hold out the last class
        // (never trained on: validation accuracy 0); a random split gives both sides every class.
        var random = new Random(4);
        var rows = Enumerable.Range(0, 1000).Select(i => i / 200).Select(c => new Row
        {
            Label = c,
            Features = Enumerable.Range(0, 8).Select(j => (float)((j == c ? 4 : 0) + Gaussian(random))).ToArray(),
        }).ToList();
        var mlContext = new MLContext(seed: 1);
        var probe = mlContext.MulticlassClassification.Trainers.ClipLinearProbe(new ClipLinearProbeOptions { Seed = 5 });
        var model = mlContext.Transforms.Conversion.MapValueToKey("Label").Append(probe).Fit(Load(mlContext, rows));

        var sweep = model.LastTransformer.Sweep;
        // Bayes accuracy here is ≈ 98 % (distance 4√2 between class means, unit noise).
        Assert.True(sweep.ChosenValidationAccuracy > 0.95, $"validation accuracy {sweep.ChosenValidationAccuracy:F3}");
        var shuffled = rows.OrderBy(_ => random.Next()).ToList();
        double accuracy = mlContext.MulticlassClassification.Evaluate(model.Transform(Load(mlContext, shuffled))).MicroAccuracy;
        Assert.True(accuracy > 0.95, $"accuracy {accuracy:F3}");
    }

    private sealed class ListProgress : IProgress<ClipLinearProbeTrial>
    {
        public List<ClipLinearProbeTrial> Reported { get; } = [];
        public void Report(ClipLinearProbeTrial value) => Reported.Add(value);
    }

    [Fact]
    public void SweepReportsGridThenBinarySearchMidpoints()
    {
        var mlContext = new MLContext(seed: 1);
        var data = mlContext.Transforms.Conversion.MapValueToKey("Label").Fit(Load(mlContext, FewNoisyRows(400, 20, seed: 7)))
            .Transform(Load(mlContext, FewNoisyRows(400, 20, seed: 7)));
        var progress = new ListProgress();
        var logged = new List<string>();
        mlContext.Log += (_, e) => { if (e.Message.Contains("Linear probe: L2 =")) lock (logged) logged.Add(e.Message); };
        var probe = mlContext.MulticlassClassification.Trainers.ClipLinearProbe(new ClipLinearProbeOptions { Seed = 2, Progress = progress });

        var sweep = probe.Fit(data).Sweep;
        Print(sweep);
        var trials = sweep.Trials;
        Assert.Equal(trials, progress.Reported);
        Assert.Equal(trials.Count, logged.Count);

        // The coarse grid first, in order.
        Assert.Equal(ClipLinearProbeOptions.DefaultL2Grid, trials.Take(7).Select(t => t.L2Regularization));
        Assert.All(trials.Take(7), t => Assert.Equal((ClipLinearProbeStage.Grid, 0), (t.Stage, t.Step)));

        // Then, for each of the 4 steps, the log-space midpoints between the best so far and its nearest
        // evaluated neighbours (one or two of them).
        var refinement = trials.Skip(7).ToList();
        Assert.All(refinement, t => Assert.Equal(ClipLinearProbeStage.Refinement, t.Stage));
        Assert.Equal(new[] { 1, 2, 3, 4 }, refinement.Select(t => t.Step).Distinct());
        int done = 7;
        for (int step = 1; step <= 4; step++)
        {
            var before = trials.Take(done).ToList();
            var best = ClipLinearProbeEstimator.Best(before);
            var values = before.Select(t => (double)t.L2Regularization).ToList();
            var expected = new List<double>();
            var below = values.Where(v => v < best.L2Regularization).ToList();
            var above = values.Where(v => v > best.L2Regularization).ToList();
            if (below.Count > 0) expected.Add(Math.Sqrt(below.Max() * best.L2Regularization));
            if (above.Count > 0) expected.Add(Math.Sqrt(above.Min() * best.L2Regularization));
            var actual = refinement.Where(t => t.Step == step).Select(t => (double)t.L2Regularization).ToList();
            Assert.Equal(expected.Count, actual.Count);
            for (int i = 0; i < expected.Count; i++)
                Assert.Equal(expected[i], actual[i], expected[i] * 1e-5);
            done += actual.Count;
        }
        Assert.Equal(trials.Count, done);
        // After 4 halvings the spacing around the winner is 2 decades / 16 = 1/8 decade.
        var sorted = trials.Select(t => Math.Log10(t.L2Regularization)).OrderBy(v => v).ToList();
        int chosen = sorted.FindIndex(v => Math.Abs(v - Math.Log10(sweep.ChosenL2Regularization)) < 1e-6);
        if (chosen > 0) Assert.Equal(0.125, sorted[chosen] - sorted[chosen - 1], 1e-5);
        if (chosen < sorted.Count - 1) Assert.Equal(0.125, sorted[chosen + 1] - sorted[chosen], 1e-5);
        AssertChosenIsBest(sweep);
    }

    [Fact]
    public void CustomGridWithoutRefinementEvaluatesExactlyTheGrid()
    {
        var mlContext = new MLContext(seed: 1);
        var raw = Load(mlContext, FewNoisyRows(200, 5, seed: 9));
        var data = mlContext.Transforms.Conversion.MapValueToKey("Label").Fit(raw).Transform(raw);
        var probe = mlContext.MulticlassClassification.Trainers.ClipLinearProbe(new ClipLinearProbeOptions
        {
            Seed = 1,
            L2Grid = [0.5f, 5f, 0.5f, 50f],
            RefinementSteps = 0,
        });

        var sweep = probe.Fit(data).Sweep;

        Assert.Equal(new[] { 0.5f, 5f, 50f }, sweep.Trials.Select(t => t.L2Regularization));
        AssertChosenIsBest(sweep);
    }

    [Fact]
    public void TiesGoToTheLargerRegularization()
    {
        var trials = new List<ClipLinearProbeTrial>
        {
            new(1e-3f, 0.8, ClipLinearProbeStage.Grid, 0),
            new(10f, 0.9, ClipLinearProbeStage.Grid, 0),
            new(1f, 0.9, ClipLinearProbeStage.Grid, 0),
            new(100f, 0.7, ClipLinearProbeStage.Grid, 0),
        };
        Assert.Equal(10f, ClipLinearProbeEstimator.Best(trials).L2Regularization);
    }

    [Fact]
    public void RefitModelIsPlainLbfgsMaximumEntropyOnAllRowsAndSavesAndLoads()
    {
        var mlContext = new MLContext(seed: 1);
        var data = Load(mlContext, FewNoisyRows(300, 10, seed: 11));
        var probe = mlContext.MulticlassClassification.Trainers.ClipLinearProbe(new ClipLinearProbeOptions
        {
            Seed = 3,
            NumberOfThreads = 1,
        });
        var pipeline = mlContext.Transforms.Conversion.MapValueToKey("Label")
            .Append(probe)
            .Append(mlContext.Transforms.Conversion.MapKeyToValue("PredictedLabel"));

        var model = pipeline.Fit(data);

        // The probe's stage wraps ML.NET's own transformer type, saved with the sweep (checked on reload below).
        var probeModel = model.OfType<ClipLinearProbeTransformer>().Single();
        Assert.NotNull(probeModel.Model);

        // Same as training LbfgsMaximumEntropy directly with the chosen L2 on every row.
        float chosen = probeModel.Sweep.ChosenL2Regularization;
        var keyed = mlContext.Transforms.Conversion.MapValueToKey("Label").Fit(data).Transform(data);
        var direct = mlContext.MulticlassClassification.Trainers.LbfgsMaximumEntropy(new LbfgsMaximumEntropyMulticlassTrainer.Options
        {
            L2Regularization = chosen,
            L1Regularization = 0,
            MaximumNumberOfIterations = 1000,
            NumberOfThreads = 1,
        }).Fit(keyed);
        var probeScores = probeModel.Transform(keyed).GetColumn<float[]>("Score").ToList();
        var directScores = direct.Transform(keyed).GetColumn<float[]>("Score").ToList();
        Assert.Equal(directScores, probeScores);

        // Scores are sensible and survive Model.Save / Model.Load.
        var scored = model.Transform(data);
        var predicted = scored.GetColumn<float>("PredictedLabel").ToList();
        var labels = data.GetColumn<float>("Label").ToList();
        double accuracy = predicted.Zip(labels).Count(p => p.First == p.Second) / (double)labels.Count;
        Assert.True(accuracy > 0.75, $"training accuracy {accuracy}");

        using var temp = new TempDirectory();
        string path = temp.File("probe.zip");
        mlContext.Model.Save(model, data.Schema, path);
        var loaded = new MLContext(seed: 2).Model.Load(path, out _);
        // It loads back as its own type, sweep included.
        var loadedProbe = Assert.Single(((TransformerChain<ITransformer>)loaded).OfType<ClipLinearProbeTransformer>());
        Assert.Equal(probeModel.Sweep.Trials, loadedProbe.Sweep.Trials);
        Assert.Equal(probeModel.Sweep with { Trials = loadedProbe.Sweep.Trials }, loadedProbe.Sweep);
        var reloaded = loaded.Transform(data);
        Assert.Equal(scored.GetColumn<float[]>("Score").ToList(), reloaded.GetColumn<float[]>("Score").ToList());
        Assert.Equal(predicted, reloaded.GetColumn<float>("PredictedLabel").ToList());
    }

    public sealed class ScalarRow
    {
        public float Label { get; set; }
        public float Features { get; set; }
        public float Other { get; set; }
    }

    public sealed class VariableRow
    {
        public float Label { get; set; }
        [VectorType] public float[] Features { get; set; } = [];
    }

    [Fact]
    public void MissingFeatureColumnIsNamed()
    {
        var mlContext = new MLContext(seed: 1);
        var raw = mlContext.Data.LoadFromEnumerable(new[] { new ScalarRow { Label = 0 }, new ScalarRow { Label = 1 } });
        var data = mlContext.Transforms.Conversion.MapValueToKey("Label").Fit(raw).Transform(raw);
        var probe = mlContext.MulticlassClassification.Trainers.ClipLinearProbe(featureColumnName: "Embedding");

        var ex = Assert.ThrowsAny<ArgumentException>(() => probe.Fit(data));
        Assert.Contains("'Embedding'", ex.Message);
        // In a chain the error comes from schema propagation (GetOutputSchema), before anything is fitted.
        ex = Assert.ThrowsAny<ArgumentException>(() => mlContext.Transforms.CopyColumns("Copy", "Label").Append(probe).Fit(data));
        Assert.Contains("'Embedding'", ex.Message);
    }

    [Fact]
    public void FeatureColumnOfWrongTypeIsNamedWithExpectedType()
    {
        var mlContext = new MLContext(seed: 1);
        var scalar = mlContext.Data.LoadFromEnumerable(new[] { new ScalarRow { Label = 0 }, new ScalarRow { Label = 1 } });
        scalar = mlContext.Transforms.Conversion.MapValueToKey("Label").Fit(scalar).Transform(scalar);
        var variable = mlContext.Data.LoadFromEnumerable(new[] { new VariableRow { Label = 0, Features = [1] }, new VariableRow { Label = 1, Features = [1, 2] } });
        variable = mlContext.Transforms.Conversion.MapValueToKey("Label").Fit(variable).Transform(variable);
        var probe = mlContext.MulticlassClassification.Trainers.ClipLinearProbe();

        foreach (var data in new[] { scalar, variable })
        {
            var ex = Assert.ThrowsAny<ArgumentException>(() => probe.Fit(data));
            Assert.Contains("'Features'", ex.Message);
            Assert.Contains("known-size vector of Single", ex.Message);
            ex = Assert.ThrowsAny<ArgumentException>(() => mlContext.Transforms.CopyColumns("Copy", "Label").Append(probe).Fit(data));
            Assert.Contains("'Features'", ex.Message);
            Assert.Contains("known-size vector of Single", ex.Message);
        }
    }

    [Fact]
    public void ValidationDataMustShareTheLabelKeyType()
    {
        var mlContext = new MLContext(seed: 1);
        var train = Load(mlContext, FewNoisyRows(60, 4, seed: 1));
        var keys = mlContext.Transforms.Conversion.MapValueToKey("Label").Fit(train);
        var threeClasses = FewNoisyRows(30, 4, seed: 2);
        threeClasses[0].Label = 2;
        var validation = Load(mlContext, threeClasses);
        // Keyed by its own mapping (three classes): not comparable with the training keys.
        validation = mlContext.Transforms.Conversion.MapValueToKey("Label").Fit(validation).Transform(validation);
        var probe = mlContext.MulticlassClassification.Trainers.ClipLinearProbe(new ClipLinearProbeOptions { ValidationData = validation });

        var ex = Assert.ThrowsAny<ArgumentException>(() => probe.Fit(keys.Transform(train)));
        Assert.Contains("'Label'", ex.Message);
        Assert.Contains("Key<UInt32, 0-1>", ex.Message);

        // With the training mapping it works; RefitOnValidationData = false refits on the training rows only.
        var sameKeys = keys.Transform(Load(mlContext, FewNoisyRows(30, 4, seed: 2)));
        probe = mlContext.MulticlassClassification.Trainers.ClipLinearProbe(new ClipLinearProbeOptions
        {
            ValidationData = sameKeys,
            RefitOnValidationData = false,
            L2Grid = [1f],
        });
        var sweep = probe.Fit(keys.Transform(train)).Sweep;
        Assert.Equal((60, 30, 60), (sweep.TrainingRowCount, sweep.ValidationRowCount, sweep.FinalRowCount));
    }

    [Fact]
    public void InvalidOptionsAreRejected()
    {
        var trainers = new MLContext(seed: 1).MulticlassClassification.Trainers;
        Assert.ThrowsAny<ArgumentException>(() => trainers.ClipLinearProbe(new ClipLinearProbeOptions { ValidationFraction = 0 }));
        Assert.ThrowsAny<ArgumentException>(() => trainers.ClipLinearProbe(new ClipLinearProbeOptions { ValidationFraction = 1 }));
        Assert.ThrowsAny<ArgumentException>(() => trainers.ClipLinearProbe(new ClipLinearProbeOptions { L2Grid = [1f, -1f] }));
        Assert.ThrowsAny<ArgumentException>(() => trainers.ClipLinearProbe(new ClipLinearProbeOptions { L2Grid = [] }));
        Assert.ThrowsAny<ArgumentException>(() => trainers.ClipLinearProbe(new ClipLinearProbeOptions { RefinementSteps = -1 }));
    }
}
