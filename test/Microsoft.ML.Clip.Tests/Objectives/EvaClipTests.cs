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
using Microsoft.ML.Clip.Training.Objectives.EvaClip;
using Microsoft.ML.Clip.Transforms;
using Microsoft.ML.Data;
using Xunit;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace Microsoft.ML.Clip.Tests.Objectives;

/// <summary>EVA-CLIP: its loss, layer-wise learning rates, patch dropout, tower initialisation, and pretraining end to end.</summary>
public class EvaClipTests(ITestOutputHelper output)
{
    private static readonly ClipConfig Tiny = new()
    {
        EmbedDim = 16,
        Vision = new VisionConfig { ImageSize = 16, Layers = 2, Width = 32, HeadWidth = 16, PatchSize = 4 },
        Text = new TextConfig { ContextLength = 8, VocabSize = 520, Width = 32, Heads = 2, Layers = 3 },
    };

    private static ClipModel NewModel(int seed, ClipConfig? config = null)
    {
        manual_seed(seed);
        return new ClipModel(config ?? Tiny);
    }

    [Fact]
    public void LossMatchesANaiveLoopOverThePaperFormula()
    {
        using var scope = NewDisposeScope();
        using var model = NewModel(1);
        using (no_grad()) model.LogitScale.fill_(Math.Log(7.5));
        var generator = new Generator(3);
        var image = nn.functional.normalize(randn([5, 16], generator: generator), dim: -1);
        var text = nn.functional.normalize(randn([5, 16], generator: generator), dim: -1);
        using var features = new ObjectiveFeatures(new Dictionary<string, Tensor> { ["image"] = image, ["text"] = text });
        double actual = new EvaClipObjective().Loss(model, features, trainModelLevelParameters: true).item<float>();

        // L = −1/(2N) Σ_i [ log softmax_j(s·I_i·T_j)_i + log softmax_j(s·T_i·I_j)_i ], s = exp(logit_scale).
        float[] I = image.data<float>().ToArray(), T = text.data<float>().ToArray();
        int n = 5, d = 16;
        double s = 7.5;
        double Dot(int i, int j) { double sum = 0; for (int k = 0; k < d; k++) sum += I[i * d + k] * T[j * d + k]; return sum; }
        double total = 0;
        for (int i = 0; i < n; i++)
        {
            double rowSum = 0, colSum = 0;
            for (int j = 0; j < n; j++)
            {
                rowSum += Math.Exp(s * Dot(i, j));
                colSum += Math.Exp(s * Dot(j, i));
            }
            total += -Math.Log(Math.Exp(s * Dot(i, i)) / rowSum) - Math.Log(Math.Exp(s * Dot(i, i)) / colSum);
        }
        double expected = total / (2 * n);
        // The model computes in fp32, the loop in double on the same fp32 inputs. Each logit s·I·T is a length-16
        // fp32 dot of unit vectors: rounding ≤ 16 × 6e-8 (eps/2 per step, worst case) × s 7.5 ≈ 7e-6, typically
        // √16 × 6e-8 × 7.5 ≈ 2e-6; log-sum-exp and the mean add a few ulps of 3.25 (2.4e-7 each). Measured 3.9e-7.
        // 1e-5 covers the worst case; a real error (another scale, one direction left out, the softmax over the
        // wrong axis) moves this loss by more than 1e-2. (Rounding both to 5 places failed on a 4e-7 difference.)
        Approx.Equal(expected, actual, atol: 1e-5, rtol: 0, "EVA-CLIP loss against the paper's formula");
    }

    [Fact]
    public void LayerDecayScalesFollowTheDepthOfEachTower()
    {
        using var model = NewModel(1);
        var objective = new EvaClipObjective(new EvaClipOptions
        {
            ImageLearningRateRatio = 2.0, ImageLayerDecay = 0.5, TextLearningRateRatio = 0.1, TextLayerDecay = 0.8, PatchDropout = 0,
        });
        objective.Initialize(model, model.Device);
        var groups = ParameterGroups.WithWeightDecay(model.named_parameters().Select(p => (p.name, p.parameter)), 0.05);
        var optimizer = objective.CreateOptimizer(groups, new ClipTrainerOptions());
        Assert.IsType<Lamb>(optimizer);
        var scales = optimizer.Parameters.ToDictionary(p => p.Name, p => p.LearningRateScale);
        Assert.Equal(groups.Count, scales.Count);
        foreach (var p in optimizer.Parameters)
            Assert.Equal(groups.Single(g => g.Name == p.Name).WeightDecay, p.WeightDecay);

        // Image tower, L = 2: scale = 2 · 0.5^(3 − depth).
        double Image(int depth) => 2.0 * Math.Pow(0.5, 3 - depth);
        Assert.Equal(Image(0), scales["visual.conv1.weight"], 12);
        Assert.Equal(Image(0), scales["visual.class_embedding"], 12);
        Assert.Equal(Image(0), scales["visual.positional_embedding"], 12);
        Assert.Equal(Image(0), scales["visual.ln_pre.weight"], 12);
        Assert.Equal(Image(1), scales["visual.transformer.resblocks.0.attn.in_proj_weight"], 12);
        Assert.Equal(Image(2), scales["visual.transformer.resblocks.1.mlp.c_proj.bias"], 12);
        Assert.Equal(Image(3), scales["visual.ln_post.bias"], 12);
        Assert.Equal(Image(3), scales["visual.proj"], 12);
        // Text tower, L = 3: scale = 0.1 · 0.8^(4 − depth).
        double Text(int depth) => 0.1 * Math.Pow(0.8, 4 - depth);
        Assert.Equal(Text(0), scales["token_embedding.weight"], 12);
        Assert.Equal(Text(0), scales["positional_embedding"], 12);
        Assert.Equal(Text(1), scales["transformer.resblocks.0.ln_1.weight"], 12);
        Assert.Equal(Text(3), scales["transformer.resblocks.2.attn.out_proj.weight"], 12);
        Assert.Equal(Text(4), scales["ln_final.weight"], 12);
        Assert.Equal(Text(4), scales["text_projection"], 12);
        // The temperature belongs to neither tower: the scheduled rate.
        Assert.Equal(1.0, scales["logit_scale"]);
        // Every block parameter of a tower shares its block's scale.
        Assert.All(scales.Where(p => p.Key.StartsWith("visual.transformer.resblocks.1.", StringComparison.Ordinal)), p => Assert.Equal(Image(2), p.Value, 12));
    }

    [Fact]
    public void PatchDropoutEncodesARandomSubsetInTrainingOnly()
    {
        using var scope = NewDisposeScope();
        using var model = NewModel(2);
        var objective = new EvaClipObjective(new EvaClipOptions { PatchDropout = 0.75 });
        objective.Initialize(model, model.Device);
        var pixels = randn([3, 3, 16, 16], generator: new Generator(4));
        using var batch = new TrainingBatch(pixels, ones([3, 8], ScalarType.Int64));

        model.train();
        manual_seed(11);
        using var trained = objective.Encode(model, batch);
        // The same draw by hand: 16 patches, ⌊16 · 0.25⌋ = 4 kept, the class token always.
        manual_seed(11);
        var keep = randn(3, 16).topk(4, dim: -1).indexes;
        using var byHand = model.EncodeImageTokens(pixels, keep, projectTokens: false);
        Assert.Equal(4, byHand.Tokens.shape[1]);
        var expected = nn.functional.normalize(byHand.Pooled, dim: -1);
        Assert.True(trained["image"].allclose(expected, rtol: 1e-5, atol: 1e-6));
        Assert.False(trained["image"].allclose(model.EncodeImage(pixels, normalize: true), rtol: 1e-3, atol: 1e-3));

        model.eval();
        using var evaluated = objective.Encode(model, batch);
        Assert.True(evaluated["image"].allclose(model.EncodeImage(pixels, normalize: true)));
    }

    [Fact]
    public void ImageTowerInitializesFromASafetensorsFileAndTextTowerFromABundle()
    {
        using var temp = new TempDirectory();
        using var imageSource = NewModel(21);
        using var textSource = NewModel(22);
        using var target = NewModel(23);
        // Fresh models share their constant initial values (LayerNorm gains of 1): make every source tensor distinct.
        Perturb(imageSource, 24);
        Perturb(textSource, 25);
        var original = Snapshot(target);
        string path = temp.File("image-source.safetensors");
        ClipWeights.Save(imageSource, path);
        var tokenizer = ClipBpeTrainer.Train(["a red circle", "a blue square", "a green star"], new ClipBpeTrainerOptions { VocabularySize = ClipBpeTrainerOptions.MinimumVocabularySize, MinFrequency = 1 });
        var bundle = new ClipModelBundle(textSource, tokenizer);

        var objective = new EvaClipObjective(new EvaClipOptions
        {
            ImageTowerInit = PretrainedTower.FromSafetensors(path),
            TextTowerInit = PretrainedTower.FromModel(bundle.Model),
        });
        objective.Initialize(target, target.Device);

        var image = Snapshot(imageSource);
        var text = Snapshot(textSource);
        foreach (var (name, value) in Snapshot(target))
        {
            switch (LayerwiseLearningRates.TowerOf(name))
            {
                case ClipTower.Image:
                    Assert.Equal(image[name], value);
                    Assert.NotEqual(text[name], value);
                    break;
                case ClipTower.Text:
                    Assert.Equal(text[name], value);
                    Assert.NotEqual(image[name], value);
                    break;
                default: // logit_scale: the target's own
                    Assert.Equal(original[name], value);
                    break;
            }
        }
    }

    [Fact]
    public void OnlyTheChosenTowerLoadsAndAMismatchedTowerIsRejected()
    {
        using var temp = new TempDirectory();
        using var source = NewModel(31);
        using var target = NewModel(32);
        string path = temp.File("source.safetensors");
        ClipWeights.Save(source, path);
        var before = Snapshot(target);
        new EvaClipObjective(new EvaClipOptions { ImageTowerInit = PretrainedTower.FromSafetensors(path) }).Initialize(target, target.Device);
        var sourceValues = Snapshot(source);
        foreach (var (name, value) in Snapshot(target))
            Assert.Equal(LayerwiseLearningRates.TowerOf(name) == ClipTower.Image ? sourceValues[name] : before[name], value);

        // A wider image tower cannot initialise this one: the error names the mismatched tensors; nothing changes.
        using var wide = NewModel(33, Tiny with { Vision = Tiny.Vision with { Width = 64 } });
        string widePath = temp.File("wide.safetensors");
        ClipWeights.Save(wide, widePath);
        var current = Snapshot(target);
        var error = Assert.Throws<StateDictMismatchException>(() =>
            new EvaClipObjective(new EvaClipOptions { ImageTowerInit = PretrainedTower.FromSafetensors(widePath) }).Initialize(target, target.Device));
        Assert.Contains("visual.conv1.weight", error.Message);
        Assert.Empty(error.Missing);
        foreach (var (name, value) in Snapshot(target)) Assert.Equal(current[name], value);
    }

    [Fact]
    public void TrainsInMixedPrecisionWithAccumulationAndTheSlowTowerMovesLess()
    {
        using var model = NewModel(41);
        var objective = new EvaClipObjective(new EvaClipOptions { PatchDropout = 0.5, TextLearningRateRatio = 0.01, ImageLayerDecay = 0.9 });
        var options = new ClipTrainerOptions { LearningRate = 1e-2, WarmupSteps = 0, Precision = TrainingPrecision.BFloat16Mixed, MicroBatchSize = 4 };
        var before = Snapshot(model);
        using var trainer = new ClipTrainer(model, objective, options, totalSteps: 3);
        Assert.IsType<Lamb>(trainer.Optimizer);
        var generator = new Generator(5);
        using var batch = new TrainingBatch(randn([8, 3, 16, 16], generator: generator), randint(1, 519, [8, 8], generator: generator));
        var results = Enumerable.Range(0, 3).Select(_ => trainer.Step(batch)).ToList();
        Assert.All(results, r => Assert.True(double.IsFinite(r.Loss) && !r.Skipped));
        // LAMB moves a matrix by about lr · scale · ‖w‖ per step: the text tower (ratio 0.01) by ~100× less than the image tower.
        double Relative(string name)
        {
            var (a, b) = (before[name], Snapshot(model)[name]);
            return Math.Sqrt(a.Zip(b).Sum(x => (x.First - x.Second) * (x.First - x.Second))) / Math.Sqrt(a.Sum(x => x * x));
        }
        double image = Relative("visual.proj"), text = Relative("text_projection");
        Assert.InRange(image, 0.01, 0.04); // 3 steps of 1e-2 at depth L + 1 (scale 1)
        Assert.True(text < image / 30, $"text {text:E2} vs image {image:E2}");
    }

    private static void Perturb(ClipModel model, int seed)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var generator = new Generator((ulong)seed);
        foreach (var p in model.parameters())
            ScalarSafe.AddInPlace(p, randn(p.shape, generator: generator));
    }

    private static Dictionary<string, float[]> Snapshot(ClipModel model) =>
        model.state_dict().ToDictionary(p => p.Key, p => p.Value.to(ScalarType.Float32).data<float>().ToArray());

    // ---- End to end: ClipPretrain on the shapes data, save, reload in a new process ----

    private static readonly ClipConfig ShapesArchitecture = new()
    {
        EmbedDim = 32,
        Vision = new VisionConfig { ImageSize = 32, Layers = 2, Width = 64, HeadWidth = 32, PatchSize = 8 },
        Text = new TextConfig { ContextLength = 16, VocabSize = 600, Width = 64, Heads = 2, Layers = 2 },
    };

    private static readonly Lazy<(MLContext Context, ClipEmbeddingTransformer Model, IDataView Validation)> Trained = new(() =>
    {
        var mlContext = new MLContext(seed: 1);
        var trainOptions = new ShapesDatasetOptions { Count = 768, ImageSize = 32, Seed = 1 };
        var train = ShapesDataset.ToDataView(mlContext, trainOptions);
        var validation = ShapesDataset.ToDataView(mlContext, new ShapesDatasetOptions { Count = 64, ImageSize = 32, Seed = 2 });
        var tokenizer = ClipBpeTrainer.Train(ShapesDataset.Enumerate(trainOptions).Select(e => e.Caption), new ClipBpeTrainerOptions { VocabularySize = 600 });
        var estimator = mlContext.Transforms.ClipPretrain(new ClipPretrainOptions
        {
            Architecture = ShapesArchitecture,
            Tokenizer = tokenizer,
            ImageColumnName = "ImageBytes",
            TextColumnName = "Caption",
            Objective = new EvaClipObjective(new EvaClipOptions { PatchDropout = 0.5, ImageLayerDecay = 0.85, TextLayerDecay = 0.85 }),
            Epochs = 3,
            BatchSize = 32,
            ValidationData = validation,
            Trainer = new ClipTrainerOptions { LearningRate = 5e-3, WarmupSteps = 5, WeightDecay = 0.05 },
            Seed = 3,
        });
        return (mlContext, estimator.Fit(train), validation);
    });

    [Trait("Category", "Slow")]
    [Fact]
    public void PretrainsOnShapesWithFallingLossAndRecallAboveChance()
    {
        var report = Trained.Value.Model.TrainingReport!;
        double first = report.Losses.Take(3).Average(l => l.Loss), last = report.Losses.TakeLast(3).Average(l => l.Loss);
        foreach (var v in report.Validation) output.WriteLine($"epoch {v.Epoch}: {v}");
        output.WriteLine($"loss {first:F3} -> {last:F3} over {report.Steps} steps, {report.Seconds:F1} s");
        Assert.Equal(3 * (768 / 32), report.Steps);
        Assert.True(last < first - 0.5, $"loss {first:F3} -> {last:F3}");
        // 64 validation pairs: chance R@5 is 5/64 ≈ 0.078.
        var final = report.Validation[^1];
        Assert.True(final.MeanRecallAt5 > 0.25, $"validation R@5 {final.MeanRecallAt5:F3} (chance 0.078)");
    }

    [Trait("Category", "Slow")]
    [Fact]
    public void TheFittedModelScoresIdenticallyInANewProcess()
    {
        var (mlContext, model, _) = Trained.Value;
        ObjectiveShapesRun.AssertReloadsIdenticallyInAnotherProcess(mlContext, model, "eva-clip");
    }
}
