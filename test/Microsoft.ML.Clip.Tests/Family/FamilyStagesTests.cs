using System;
using System.IO;
using System.Linq;
using Microsoft.ML;
using Microsoft.ML.Clip.Modeling;
using Microsoft.ML.Clip.Tests.Pipeline;
using Microsoft.ML.Clip.Tokenization;
using Microsoft.ML.Clip.Training;
using Microsoft.ML.Clip.Training.Objectives.SigLip;
using Microsoft.ML.Clip.Transforms;
using Microsoft.ML.Data;
using Xunit;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace Microsoft.ML.Clip.Tests.Family;

/// <summary>
/// Every ML.NET stage with the new towers, starting from the family fixtures loaded as open_clip hub folders: SigLIP
/// fine-tuned with its sigmoid loss through ClipPretrain, then embeddings, zero-shot (sigmoid scores with the bias),
/// EvaluateRetrieval, the linear probe and a model zip; EVA02-CLIP fine-tuned with its image tower locked (LiT) and
/// the text tower checkpointed, and WiSE-FT between the two ends. The colour pairs are 32 px, the towers' size.
/// </summary>
[Trait("Category", "Fixtures")]
public class FamilyStagesTests(ITestOutputHelper output)
{
    private static readonly string[] Classes = ColourPairs.Colours.Select(c => c.Name).ToArray();
    private const string Template = "a {} picture";

    private static ClipModelBundle LoadHub(string name)
    {
        using var temp = new TempDirectory();
        return ClipModelBundle.FromHubFolder(FamilyHub.Create(name, temp.File(name)));
    }

    private static readonly Lazy<(MLContext Context, ClipModelBundle Pretrained, ClipEmbeddingTransformer Tuned)> SigLip = new(() =>
    {
        var mlContext = new MLContext(seed: 1);
        var pretrained = LoadHub("siglip-tiny");
        var tuned = mlContext.Transforms.ClipPretrain(new ClipPretrainOptions
        {
            InitialModel = pretrained,
            Objective = new SigLipObjective(),
            ImageColumnName = "ImageBytes",
            Epochs = 4,
            BatchSize = 16,
            ValidationFraction = 0,
            Trainer = new ClipTrainerOptions { LearningRate = 1e-3, WarmupSteps = 2 },
            Seed = 2,
        }).Fit(ColourPairs.DataView(mlContext, 96));
        return (mlContext, pretrained, tuned);
    });

    [FixtureFact]
    public void SigLipFineTuningFromAHubFolderLearnsTheColours()
    {
        var (_, _, tuned) = SigLip.Value;
        var losses = tuned.TrainingReport!.Losses.Select(l => l.Loss).ToList();
        output.WriteLine($"SigLIP loss {losses.Take(3).Average():F4} → {losses.TakeLast(3).Average():F4} over {losses.Count} steps");
        Assert.Equal(24, losses.Count); // 96 rows in batches of 16, 4 epochs
        Assert.True(losses.TakeLast(3).Average() < 0.8 * losses.Take(3).Average(), "the sigmoid loss must fall");
        Assert.NotNull(tuned.Bundle.Model.LogitBias);
    }

    [FixtureFact]
    public void ZeroShotScoresAreSigmoidsOfScaledCosinePlusBias()
    {
        var (mlContext, _, tuned) = SigLip.Value;
        var test = ColourPairs.DataView(mlContext, 40, seed: 9);
        var zeroShot = mlContext.Transforms.ClipZeroShot(tuned.Bundle, Classes, [Template], imageColumnName: "ImageBytes").Fit(test);
        var scored = zeroShot.Transform(tuned.Transform(test));
        var scores = scored.GetColumn<float[]>("Score").ToArray();
        var images = scored.GetColumn<float[]>("ImageEmbedding").ToArray();
        var labels = scored.GetColumn<string>("Label").ToArray();

        var (maxError, maxSumDeviation, correct) = SigmoidZeroShot.Check(tuned.Bundle, Classes, Template, scores, images, labels);
        output.WriteLine($"max |score − σ(t·cos + b)| {maxError:E2}; max |Σ scores − 1| {maxSumDeviation:F3}; zero-shot accuracy {correct}/{scores.Length}");
        // The stage and this loop compute the same fp32 dot products of unit vectors (length 64) and one sigmoid: rounding
        // of order 1e-7 scaled by t ≤ 100; 1e-5 leaves room, and a softmax or a missing bias is off by 1e-2 or more.
        Assert.True(maxError < 1e-5, $"max error {maxError:E2}");
        Assert.True(maxSumDeviation > 1e-2, "per-class sigmoids are not normalised like a softmax");
        Assert.True(correct >= 30, $"zero-shot accuracy {correct}/40 (chance 10/40)");
    }

    [FixtureFact]
    public void RetrievalAndLinearProbeWorkOnTheEmbeddings()
    {
        var (mlContext, _, tuned) = SigLip.Value;
        var test = ColourPairs.DataView(mlContext, 40, seed: 11);
        var retrieval = mlContext.EvaluateRetrieval(test, tuned.Bundle, "ImageBytes", "Text");
        output.WriteLine($"image→text R@5 {retrieval.ImageToText.RecallAt5:P1}, text→image R@5 {retrieval.TextToImage.RecallAt5:P1}");
        // 40 pairs, 10 per colour with one caption each: a colour model ranks the 10 same-caption images first, so R@5 is
        // near 5/10 for text→image and ties make image→text optimistic; chance is 5/40.
        Assert.True(retrieval.TextToImage.RecallAt5 > 0.3, $"text→image R@5 {retrieval.TextToImage.RecallAt5:P1}");

        var train = ColourPairs.DataView(mlContext, 80, seed: 12);
        var probe = mlContext.Transforms.ClipImageEmbedding(tuned.Bundle, "Features", "ImageBytes")
            .Append(mlContext.Transforms.Conversion.MapValueToKey("Label"))
            .Append(mlContext.MulticlassClassification.Trainers.ClipLinearProbe("Label", "Features"))
            .Fit(train);
        var metrics = mlContext.MulticlassClassification.Evaluate(probe.Transform(test));
        output.WriteLine($"linear probe accuracy {metrics.MicroAccuracy:P1}");
        Assert.True(metrics.MicroAccuracy >= 0.9, $"linear probe accuracy {metrics.MicroAccuracy:P1} on four colours");
    }

    [FixtureFact]
    public void ZipSaveAndLoadGiveIdenticalScores()
    {
        var (mlContext, _, tuned) = SigLip.Value;
        var test = ColourPairs.DataView(mlContext, 12, seed: 13);
        var zeroShot = mlContext.Transforms.ClipZeroShot(tuned.Bundle, Classes, [Template], imageColumnName: "ImageBytes").Fit(test);
        var chain = new TransformerChain<ITransformer>(tuned, zeroShot);
        using var temp = new TempDirectory();
        string path = temp.File("siglip-tiny.zip");
        mlContext.Model.Save(chain, test.Schema, path);
        var loaded = mlContext.Model.Load(path, out _);
        var expected = chain.Transform(test);
        var actual = loaded.Transform(test);
        foreach (var column in new[] { "ImageEmbedding", "TextEmbedding", "Score" })
            Assert.Equal(expected.GetColumn<float[]>(column).ToArray(), actual.GetColumn<float[]>(column).ToArray());
    }

    /// <summary>
    /// EVA02-CLIP fine-tuned with the image tower locked (LiT, features cached) and the text tower's blocks checkpointed;
    /// then WiSE-FT halfway between the pretrained and the fine-tuned weights.
    /// </summary>
    [FixtureFact]
    public void Eva02LockedImageTowerCheckpointedTextTowerAndWiseFt()
    {
        var mlContext = new MLContext(seed: 1);
        var pretrained = LoadHub("eva02-tiny");
        long recomputed = ActivationCheckpoint.Recomputations;
        var tuned = mlContext.Transforms.ClipPretrain(new ClipPretrainOptions
        {
            InitialModel = pretrained,
            ImageColumnName = "ImageBytes",
            Epochs = 2,
            BatchSize = 16,
            ValidationFraction = 0,
            Trainer = new ClipTrainerOptions
            {
                LearningRate = 1e-3, WarmupSteps = 1, ImageTowerLock = TowerLock.Full, CacheLockedTowerFeatures = true,
                ActivationCheckpointing = CheckpointedTowers.Text,
            },
            Seed = 3,
        }).Fit(ColourPairs.DataView(mlContext, 64));
        // 8 steps, each recomputing the text tower's 2 blocks (the locked image tower is encoded without a graph).
        Assert.Equal(16, ActivationCheckpoint.Recomputations - recomputed);

        var before = pretrained.Model.state_dict();
        var after = tuned.Bundle.Model.state_dict();
        var half = ClipModelBundle.Interpolate(pretrained, tuned.Bundle, 0.5).Model.state_dict();
        int imageTensors = 0, changedText = 0;
        foreach (var (name, initial) in before)
        {
            if (name.StartsWith("visual.trunk.", StringComparison.Ordinal))
            {
                Assert.True(initial.equal(after[name]).all().item<bool>(), $"{name} changed under LiT");
                imageTensors++;
            }
            else if (name.StartsWith("text.", StringComparison.Ordinal) && !initial.equal(after[name]).all().item<bool>())
            {
                changedText++;
            }
            // WiSE-FT: (1 − α)·θ₀ + α·θ₁ in fp32, one rounding of each product and of the sum.
            using var midpoint = (initial + after[name]) * 0.5;
            Assert.True((half[name] - midpoint).abs().max().item<float>() <= 1e-6 * Math.Max(1, midpoint.abs().max().item<float>()), name);
        }
        output.WriteLine($"{imageTensors} image tensors unchanged, {changedText} text tensors trained");
        Assert.Equal(pretrained.Model.named_parameters().Count(p => p.name.StartsWith("visual.", StringComparison.Ordinal)), imageTensors);
        Assert.True(changedText > 20, $"only {changedText} text tensors changed");
    }
}
