using System;
using System.Collections.Generic;
using System.Linq;
using Microsoft.ML.Clip.SampleData;
using Microsoft.ML.Clip.Torch;
using Microsoft.ML;
using Microsoft.ML.Clip.Datasets;
using Microsoft.ML.Clip.Modeling;
using Microsoft.ML.Clip.Tokenization;
using Microsoft.ML.Clip.Training;
using Microsoft.ML.Clip.Training.Objectives;
using Microsoft.ML.Clip.Training.Objectives.WenLan;
using Microsoft.ML.Clip.Transforms;
using Microsoft.ML.Data;
using TorchSharp;
using Xunit;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace Microsoft.ML.Clip.Tests.Objectives;

public class WenLanTests(ITestOutputHelper output)
{
    internal static readonly ClipConfig Micro = new()
    {
        EmbedDim = 8,
        Vision = new VisionConfig { ImageSize = 16, Layers = 1, Width = 32, HeadWidth = 16, PatchSize = 4 },
        Text = new TextConfig { ContextLength = 8, VocabSize = 50, Width = 32, Heads = 2, Layers = 1 },
    };

    internal static TrainingBatch RandomBatch(int size, int seed, int vocab = 50, int context = 8)
    {
        var generator = new Generator((ulong)seed);
        var pixels = randn(new long[] { size, 3, 16, 16 }, generator: generator);
        var tokens = randint(1, vocab - 2, new long[] { size, context }, generator: generator);
        tokens[TensorIndex.Colon, 0] = vocab - 2;            // start of text
        tokens[TensorIndex.Colon, context - 1] = vocab - 1;  // end of text = largest id
        return new TrainingBatch(pixels, tokens);
    }

    private static Tensor UnitRows(long rows, long dim, int seed) =>
        nn.functional.normalize(randn(new[] { rows, dim }, generator: new Generator((ulong)seed)), dim: 1);

    /// <summary>The paper's loss written out: for each i, −log softmax([q_i·k_i, q_i·Q_1..K]/τ)[0], mean over i, per direction, summed.</summary>
    private static double NaiveDirection(float[,] q, float[,] k, float[,] queue, double scale)
    {
        int n = q.GetLength(0), d = q.GetLength(1), size = queue.GetLength(0);
        double total = 0;
        for (int i = 0; i < n; i++)
        {
            var logits = new List<double>();
            double pos = 0;
            for (int c = 0; c < d; c++) pos += q[i, c] * k[i, c];
            logits.Add(pos * scale);
            for (int j = 0; j < size; j++)
            {
                double dot = 0;
                for (int c = 0; c < d; c++) dot += q[i, c] * queue[j, c];
                logits.Add(dot * scale);
            }
            double max = logits.Max();
            double logSum = max + Math.Log(logits.Sum(l => Math.Exp(l - max)));
            total += logSum - logits[0];
        }
        return total / n;
    }

    private static float[,] ToArray(Tensor t)
    {
        var flat = t.to(ScalarType.Float32).contiguous().data<float>().ToArray();
        int rows = (int)t.shape[0], cols = (int)t.shape[1];
        var result = new float[rows, cols];
        for (int i = 0; i < rows; i++) for (int j = 0; j < cols; j++) result[i, j] = flat[i * cols + j];
        return result;
    }

    [Theory]
    [InlineData(null)]
    [InlineData(0.07)]
    public void LossMatchesNaiveLoop(double? temperature)
    {
        using var scope = NewDisposeScope();
        manual_seed(1);
        using var model = new ClipModel(Micro);
        using (no_grad()) model.LogitScale.fill_(2.5);
        using var objective = new WenLanObjective(new WenLanOptions { QueueSize = 12, Temperature = temperature });
        objective.Initialize(model, model.Device);
        var imageQueue = UnitRows(12, 8, 2);
        var textQueue = UnitRows(12, 8, 3);
        var state = objective.StateDict().ToDictionary(p => p.Key, p => p.Value);
        state["image_queue"] = imageQueue;
        state["text_queue"] = textQueue;
        objective.LoadStateDict(state);

        var image = UnitRows(4, 8, 4).requires_grad_(true);
        var text = UnitRows(4, 8, 5).requires_grad_(true);
        var imageKey = UnitRows(4, 8, 6);
        var textKey = UnitRows(4, 8, 7);
        using var features = new ObjectiveFeatures(new Dictionary<string, Tensor>
        {
            ["image"] = image, ["text"] = text, ["image_key"] = imageKey, ["text_key"] = textKey,
        });
        var loss = objective.Loss(model, features, trainModelLevelParameters: true);
        double scale = temperature is double t ? 1 / t : Math.Exp(2.5);
        double expected = NaiveDirection(ToArray(image.detach()), ToArray(textKey), ToArray(textQueue), scale)
                        + NaiveDirection(ToArray(text.detach()), ToArray(imageKey), ToArray(imageQueue), scale);
        output.WriteLine($"τ {(temperature?.ToString() ?? "learnable")}: loss {loss.item<float>():F6}, naive {expected:F6}");
        // Logits of 8-d fp32 dots against 4 keys + 12 queued rows, times a scale up to 1/0.05 = 20 or e^2.5 ≈ 12:
        // rounding ≤ 8 × 6e-8 × 20 ≈ 1e-5 per logit worst case; two directions of a 1-Lipschitz log-sum-exp: 3e-5.
        // Leaving the queue out (4 candidates instead of 16) moves the loss by ~log 4 ≈ 1.4.
        Approx.Equal(expected, loss.item<float>(), atol: 3e-5, rtol: 0, "WenLan loss against the naive loop");

        // Gradients reach the queries (and the learnable temperature), never the queue or the keys.
        loss.backward();
        Assert.NotNull(image.grad);
        Assert.NotNull(text.grad);
        Assert.False(objective.ImageQueue.Features.requires_grad);
        Assert.False(objective.TextQueue.Features.requires_grad);
        Assert.Null(objective.ImageQueue.Features.grad);
        Assert.Null(objective.TextQueue.Features.grad);
        if (temperature is null) Assert.NotNull(model.LogitScale.grad);
        else Assert.Null(model.LogitScale.grad);
    }

    [Fact]
    public void KeysComeFromTheMomentumModelWithoutGradient()
    {
        using var scope = NewDisposeScope();
        manual_seed(2);
        using var model = new ClipModel(Micro);
        using var objective = new WenLanObjective(new WenLanOptions { QueueSize = 8 });
        objective.Initialize(model, model.Device);
        using var batch = RandomBatch(4, 3);
        using var features = objective.Encode(model, batch);
        Assert.True(features["image"].requires_grad);
        Assert.False(features["image_key"].requires_grad);
        Assert.False(features["text_key"].requires_grad);
        Assert.All(objective.KeyModel.parameters(), p => Assert.False(p.requires_grad));
        // Right after Initialize the key model is an exact copy, so keys equal the (detached) queries.
        Assert.True(features["image"].detach().allclose(features["image_key"], rtol: 1e-5, atol: 1e-6));
        Assert.True(features["text"].detach().allclose(features["text_key"], rtol: 1e-5, atol: 1e-6));
        var loss = objective.Loss(model, features, true);
        loss.backward();
        Assert.All(objective.KeyModel.parameters(), p => Assert.Null(p.grad));
        Assert.NotNull(model.named_parameters().First(p => p.name == "visual.conv1.weight").parameter.grad);
    }

    [Fact]
    public void MomentumUpdateAndFifoQueue()
    {
        using var scope = NewDisposeScope();
        manual_seed(3);
        using var model = new ClipModel(Micro);
        const double m = 0.9;
        using var objective = new WenLanObjective(new WenLanOptions { QueueSize = 8, Momentum = m });
        objective.Initialize(model, model.Device);
        var keyBefore = objective.KeyModel.named_parameters().ToDictionary(p => p.name, p => p.parameter.detach().clone());
        using (no_grad()) foreach (var p in model.parameters()) ScalarSafe.AddInPlace(p, 0.5); // the "optimizer step"
        var queueBefore = objective.TextQueue.Features.clone();

        var keys = new List<(Tensor Image, Tensor Text)>();
        for (int step = 0; step < 3; step++)
        {
            var (imageKey, textKey) = (UnitRows(4, 8, 10 + step), UnitRows(4, 8, 20 + step));
            keys.Add((imageKey.clone(), textKey.clone())); // the features below own (and dispose) their tensors
            using var features = new ObjectiveFeatures(new Dictionary<string, Tensor>
            {
                ["image"] = UnitRows(4, 8, 30), ["text"] = UnitRows(4, 8, 31), ["image_key"] = imageKey, ["text_key"] = textKey,
            });
            objective.Loss(model, features, true);
            objective.Loss(model, features, false); // a second accumulation pass must not enqueue twice
            objective.AfterStep(model, null);
            if (step == 0)
            {
                var query = model.named_parameters().ToDictionary(p => p.name, p => p.parameter);
                foreach (var (name, k) in objective.KeyModel.named_parameters())
                {
                    var expected = keyBefore[name] * m + query[name].detach() * (1 - m);
                    Assert.True(k.allclose(expected, rtol: 1e-5, atol: 1e-6), $"momentum update of {name}");
                }
                Assert.Equal(4, objective.TextQueue.Pointer);
                Assert.True(objective.TextQueue.Features.narrow(0, 0, 4).equal(textKey).all().item<bool>());
                Assert.True(objective.ImageQueue.Features.narrow(0, 0, 4).equal(imageKey).all().item<bool>());
                Assert.True(objective.TextQueue.Features.narrow(0, 4, 4).equal(queueBefore.narrow(0, 4, 4)).all().item<bool>());
            }
        }
        // K = 8, batches of 4: after three steps the pointer wrapped and the oldest keys (step 0) were replaced.
        Assert.Equal(4, objective.TextQueue.Pointer);
        Assert.True(objective.TextQueue.Features.narrow(0, 0, 4).equal(keys[2].Text).all().item<bool>());
        Assert.True(objective.TextQueue.Features.narrow(0, 4, 4).equal(keys[1].Text).all().item<bool>());
        Assert.True(objective.ImageQueue.Features.narrow(0, 0, 4).equal(keys[2].Image).all().item<bool>());
    }

    [Fact]
    public void QueueLengthMustBeAMultipleOfTheBatch()
    {
        manual_seed(4);
        using var model = new ClipModel(Micro);
        using var trainer = new ClipTrainer(model, new WenLanObjective(new WenLanOptions { QueueSize = 10 }), new ClipTrainerOptions(), 5);
        using var batch = RandomBatch(4, 1);
        var ex = Assert.Throws<ArgumentException>(() => trainer.Step(batch));
        Assert.Contains("multiple of the batch size", ex.Message);
        Assert.Throws<ArgumentException>(() => new WenLanObjective(new WenLanOptions { Momentum = 1.5 }));
    }

    [Fact]
    public void AccumulationGivesTheFullBatchGradientAndEnqueuesOnce()
    {
        manual_seed(5);
        using var full = new ClipModel(Micro);
        manual_seed(5);
        using var accumulated = new ClipModel(Micro);
        var options = new ClipTrainerOptions { LearningRate = 1e-3, WarmupSteps = 0, GradientClipNorm = null };
        manual_seed(6);
        using var o1 = new WenLanObjective(new WenLanOptions { QueueSize = 16 });
        using var t1 = new ClipTrainer(full, o1, options, 10);
        manual_seed(6);
        using var o2 = new WenLanObjective(new WenLanOptions { QueueSize = 16 });
        using var t2 = new ClipTrainer(accumulated, o2, options with { MicroBatchSize = 3 }, 10);
        using var batch = RandomBatch(8, 7);
        var (l1, g1) = t1.LossAndGradients(batch);
        var (l2, g2) = t2.LossAndGradients(batch);
        output.WriteLine($"loss full {l1:F6}, accumulated {l2:F6}");
        // As ClipTrainerTests.AccumulationGivesTheFullBatchGradient: micro-batches of 3 against one of 8 (other GEMM
        // shapes), a few 1e-6 on a loss of ~2; 2e-5.
        Approx.Equal(l1, l2, atol: 2e-5, rtol: 0, "accumulated vs whole-batch loss");
        foreach (var (name, a) in g1)
        {
            // The bound of ClipTrainerTests.AccumulationGivesTheFullBatchGradient (1e-5 of the largest entry + 1e-3).
            double scale = a.abs().max().item<float>();
            Assert.True(a.allclose(g2[name], rtol: 1e-3, atol: 1e-5 * scale + 1e-9), $"gradient of {name} differs");
        }
        t2.Step(batch);
        Assert.Equal(8, o2.TextQueue.Pointer); // one enqueue of the 8 keys, not one per micro-batch
        Assert.Equal(8, o2.ImageQueue.Pointer);
    }

    [Fact]
    public void StateDictRestoresAnIdenticalObjective()
    {
        manual_seed(8);
        using var model = new ClipModel(Micro);
        using var objective = new WenLanObjective(new WenLanOptions { QueueSize = 8 });
        using var trainer = new ClipTrainer(model, objective, new ClipTrainerOptions { LearningRate = 1e-2, WarmupSteps = 0 }, 10);
        using var batch = RandomBatch(4, 9);
        for (int i = 0; i < 3; i++) trainer.Step(batch);
        var saved = objective.StateDict().ToDictionary(p => p.Key, p => p.Value.clone());
        Assert.Contains("key_model.visual.conv1.weight", saved.Keys);

        using var restored = new WenLanObjective(new WenLanOptions { QueueSize = 8 });
        restored.Initialize(model, model.Device); // fresh key model (copy of the query) and random queues
        Assert.False(restored.KeyModel.named_parameters().First().parameter.equal(objective.KeyModel.named_parameters().First().parameter).all().item<bool>());
        restored.LoadStateDict(saved);
        foreach (var (name, tensor) in objective.StateDict())
            Assert.True(tensor.equal(restored.StateDict()[name]).all().item<bool>(), $"{name} differs after restore");
        using var f1 = objective.Encode(model, batch);
        using var f2 = restored.Encode(model, batch);
        Assert.Equal(objective.Loss(model, f1, true).item<float>(), restored.Loss(model, f2, true).item<float>());
    }

    [Trait("Category", "Slow")]
    [Fact]
    public void PretrainsOnShapesAndReloadsInAnotherProcess()
    {
        var run = ObjectivePipelineCheck.Run(new WenLanObjective(new WenLanOptions { QueueSize = 64, Momentum = 0.99 }), output);
        Assert.True(run.LastLoss < 0.8 * run.FirstLoss, $"loss {run.FirstLoss:F3} -> {run.LastLoss:F3}");
        Assert.True(run.MeanRecallAt5 > 3 * run.ChanceRecallAt5, $"validation R@5 {run.MeanRecallAt5:F3} (chance {run.ChanceRecallAt5:F3})");
    }
}

/// <summary>Shared end-to-end check: ClipPretrain on shapes with an objective, then save and score in a new process.</summary>
internal static class ObjectivePipelineCheck
{
    public sealed record Result(double FirstLoss, double LastLoss, double MeanRecallAt5, double ChanceRecallAt5);

    public static Result Run(ClipObjective objective, ITestOutputHelper output, int rows = 384, int epochs = 4)
    {
        var mlContext = new MLContext(seed: 1);
        // 8 classes (4 colours × 2 shapes, large, centred) keep a 40-step run on two shared cores meaningful.
        var shapes = new ShapesDatasetOptions
        {
            Count = rows, ImageSize = 32, Seed = 11, VariedCaptions = false, HeldOutPairs = [],
            Colours = [ShapeColour.Red, ShapeColour.Green, ShapeColour.Blue, ShapeColour.Yellow],
            Shapes = [ShapeKind.Circle, ShapeKind.Square], Sizes = [ShapeSize.Large], Positions = [ShapePosition.Center],
        };
        var data = mlContext.Transforms.DropColumns(ShapesColumns.Image).Fit(ShapesDataset.ToDataView(mlContext, shapes))
            .Transform(ShapesDataset.ToDataView(mlContext, shapes));
        var tokenizer = ClipBpeTrainer.Train(data.GetColumn<string>(ShapesColumns.Caption), new ClipBpeTrainerOptions { VocabularySize = 640 });
        var architecture = new ClipConfig
        {
            EmbedDim = 32,
            Vision = new VisionConfig { ImageSize = 32, Layers = 2, Width = 64, HeadWidth = 32, PatchSize = 8 },
            Text = new TextConfig { ContextLength = 16, VocabSize = tokenizer.VocabularySize, Width = 64, Heads = 2, Layers = 1 },
        };
        var started = DateTime.UtcNow;
        var model = mlContext.Transforms.ClipPretrain(new ClipPretrainOptions
        {
            Architecture = architecture,
            Tokenizer = tokenizer,
            Objective = objective,
            ImageColumnName = ShapesColumns.ImageBytes,
            TextColumnName = ShapesColumns.Caption,
            Epochs = epochs,
            BatchSize = 32,
            ValidationFraction = 0.15,
            Trainer = new ClipTrainerOptions { LearningRate = 2e-3, WarmupSteps = 5 },
            Seed = 3,
        }).Fit(data);
        var report = model.TrainingReport!;
        double first = report.Losses.Take(3).Average(l => l.Loss), last = report.Losses.TakeLast(3).Average(l => l.Loss);
        var validation = report.Validation[^1];
        int validationRows = (int)Math.Round(rows * 0.15);
        output.WriteLine($"{objective.Name}: {report.Steps} steps in {(DateTime.UtcNow - started).TotalSeconds:F1} s, loss {first:F3} -> {last:F3}; " +
            $"validation R@1 i→t {validation.ImageToTextRecallAt1:F3} t→i {validation.TextToImageRecallAt1:F3}, mean R@5 {validation.MeanRecallAt5:F3} (~{validationRows} rows)");

        ObjectiveShapesRun.AssertReloadsIdenticallyInAnotherProcess(mlContext, model, objective.Name);
        return new Result(first, last, validation.MeanRecallAt5, Math.Min(1, 5.0 / validationRows));
    }
}
