using System;
using System.Collections.Generic;
using System.Linq;
using Microsoft.ML.Clip.SampleData;
using Microsoft.ML;
using Microsoft.ML.Clip.Datasets;
using Microsoft.ML.Clip.Evaluation;
using Microsoft.ML.Clip.Modeling;
using Microsoft.ML.Clip.Tests.Modeling;
using Microsoft.ML.Clip.Tokenization;
using Microsoft.ML.Clip.Training;
using Microsoft.ML.Clip.Training.Objectives;
using Microsoft.ML.Clip.Training.Objectives.Filip;
using Microsoft.ML.Clip.Scoring;
using Microsoft.ML.Clip.Transforms;
using Microsoft.ML.Clip.Transforms.Clip;
using Microsoft.ML.Data;
using Xunit;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace Microsoft.ML.Clip.Tests.Objectives;

/// <summary>FILIP: token-wise similarity and loss against the paper's formulas, chunking, training, scoring, reload.</summary>
public class FilipTests(ITestOutputHelper output)
{
    // Small random case with padding: 5 images of 4 patches (some dropped), 6 texts of up to 5 tokens, D = 3.
    private const int I = 5, Np = 4, T = 6, Lt = 5, D = 3;

    private static (Tensor Images, Tensor ImageMask, Tensor Texts, Tensor TextMask) RandomCase(int seed, int images = I, int texts = T)
    {
        var g = new Random(seed);
        Tensor Unit(int n, int len)
        {
            var data = Enumerable.Range(0, n * len * D).Select(_ => (float)(g.NextDouble() * 2 - 1)).ToArray();
            return nn.functional.normalize(tensor(data, new long[] { n, len, D }), dim: -1);
        }
        var imageTokens = Unit(images, Np);
        var textTokens = Unit(texts, Lt);
        // Each text keeps 1..Lt tokens, each image 1..Np patches (at least one valid token everywhere).
        var textMask = tensor(Enumerable.Range(0, texts).SelectMany(_ => { int valid = g.Next(1, Lt + 1); return Enumerable.Range(0, Lt).Select(p => p < valid); }).ToArray(), new long[] { texts, Lt });
        var imageMask = tensor(Enumerable.Range(0, images).SelectMany(_ => { int keep = g.Next(1, Np + 1); return Enumerable.Range(0, Np).Select(p => p < keep); }).ToArray(), new long[] { images, Np });
        return (imageTokens, imageMask, textTokens, textMask);
    }

    /// <summary>The paper's s^I and s^T with plain loops over arrays.</summary>
    private static (double[,] SI, double[,] ST) NaiveSimilarity(Tensor images, Tensor imageMask, Tensor texts, Tensor textMask)
    {
        int ni = (int)images.shape[0], nt = (int)texts.shape[0], np = (int)images.shape[1], lt = (int)texts.shape[1], d = (int)images.shape[2];
        var x = images.data<float>().ToArray();
        var y = texts.data<float>().ToArray();
        var pm = imageMask.data<bool>().ToArray();
        var tm = textMask.data<bool>().ToArray();
        double Dot(int i, int k, int j, int r)
        {
            double s = 0;
            for (int c = 0; c < d; c++) s += x[(i * np + k) * d + c] * y[(j * lt + r) * d + c];
            return s;
        }
        var sI = new double[ni, nt];
        var sT = new double[ni, nt];
        for (int i = 0; i < ni; i++)
            for (int j = 0; j < nt; j++)
            {
                double sumI = 0; int countI = 0;
                for (int k = 0; k < np; k++)
                {
                    if (!pm[i * np + k]) continue;
                    double best = double.NegativeInfinity;
                    for (int r = 0; r < lt; r++) if (tm[j * lt + r]) best = Math.Max(best, Dot(i, k, j, r));
                    sumI += best; countI++;
                }
                double sumT = 0; int countT = 0;
                for (int r = 0; r < lt; r++)
                {
                    if (!tm[j * lt + r]) continue;
                    double best = double.NegativeInfinity;
                    for (int k = 0; k < np; k++) if (pm[i * np + k]) best = Math.Max(best, Dot(i, k, j, r));
                    sumT += best; countT++;
                }
                sI[i, j] = sumI / countI;
                sT[i, j] = sumT / countT;
            }
        return (sI, sT);
    }

    private static void AssertClose(double[,] expected, Tensor actual, double tolerance)
    {
        Assert.Equal(new long[] { expected.GetLength(0), expected.GetLength(1) }, actual.shape);
        var values = actual.to(ScalarType.Float64).data<double>().ToArray();
        for (int i = 0; i < expected.GetLength(0); i++)
            for (int j = 0; j < expected.GetLength(1); j++)
                Assert.True(Math.Abs(expected[i, j] - values[i * expected.GetLength(1) + j]) < tolerance,
                    $"[{i},{j}]: expected {expected[i, j]:F6}, got {values[i * expected.GetLength(1) + j]:F6}");
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(100)]
    public void SimilarityMatchesNaiveLoopsForEveryChunkSize(int chunkSize)
    {
        using var scope = NewDisposeScope();
        var (images, imageMask, texts, textMask) = RandomCase(seed: 7);
        var (naiveI, naiveT) = NaiveSimilarity(images, imageMask, texts, textMask);
        var (sI, sT) = new FilipSimilarity(chunkSize).Compute(images, imageMask, texts, textMask);
        AssertClose(naiveI, sI, 1e-5);
        AssertClose(naiveT, sT, 1e-5);
        // Chunked equals unchunked (one block holds everything at chunk size 100).
        var (fullI, fullT) = new FilipSimilarity(100).Compute(images, imageMask, texts, textMask);
        Assert.True(sI.allclose(fullI, rtol: 0, atol: 1e-6) && sT.allclose(fullT, rtol: 0, atol: 1e-6));
    }

    [Fact]
    public void PaddingTakesNoPart()
    {
        using var scope = NewDisposeScope();
        var (images, imageMask, texts, textMask) = RandomCase(seed: 3);
        var (sI, sT) = new FilipSimilarity(2).Compute(images, imageMask, texts, textMask);
        // Padding set to huge values (that would win every maximum) changes nothing.
        var noisyTexts = where(textMask.unsqueeze(2), texts, full([T, Lt, D], 50f));
        var noisyImages = where(imageMask.unsqueeze(2), images, full([I, Np, D], -50f));
        var (nI, nT) = new FilipSimilarity(2).Compute(noisyImages, imageMask, noisyTexts, textMask);
        Assert.True(sI.allclose(nI, rtol: 0, atol: 1e-6) && sT.allclose(nT, rtol: 0, atol: 1e-6));
        // The zero-padded form (what retrieval uses) gives the symmetric score ½(s^I + s^T).
        var score = new FilipSimilarity(3).ScoreZeroPadded(FilipTokenFeatures.ZeroInvalid(images, imageMask), FilipTokenFeatures.ZeroInvalid(texts, textMask));
        Assert.True(score.allclose((sI + sT) / 2, rtol: 0, atol: 1e-6));
    }

    [Fact]
    public void LossMatchesNaiveCrossEntropyOfThePaper()
    {
        using var scope = NewDisposeScope();
        var (images, _, texts, textMask) = RandomCase(seed: 11, images: 5, texts: 5);
        var allPatches = ones([5, Np], ScalarType.Bool);
        var (sI, sT) = NaiveSimilarity(images, allPatches, texts, textMask);
        double scale = 7.5;
        // L_I = −(1/b) Σ_k log softmax_j(s^I_kj/τ)[k]; L_T = −(1/b) Σ_k log softmax_j(s^T_jk/τ)[k]; L = (L_I + L_T)/2.
        double lossI = 0, lossT = 0;
        for (int k = 0; k < 5; k++)
        {
            double zI = 0, zT = 0;
            for (int j = 0; j < 5; j++) { zI += Math.Exp(scale * sI[k, j]); zT += Math.Exp(scale * sT[j, k]); }
            lossI -= scale * sI[k, k] - Math.Log(zI);
            lossT -= scale * sT[k, k] - Math.Log(zT);
        }
        double expected = (lossI / 5 + lossT / 5) / 2;
        foreach (int chunk in new[] { 1, 2, 5 })
        {
            double actual = FilipObjective.Compute(new FilipSimilarity(chunk), images, texts, textMask, tensor(scale, ScalarType.Float32)).item<float>();
            output.WriteLine($"chunk {chunk}: loss {actual:F6}, naive {expected:F6}");
            // As EvaClipTests.LossMatchesANaiveLoopOverThePaperFormula: token similarities of fp32 vectors × 7.5,
            // rounding ≤ ~7e-6 per logit worst case; 1e-5 is well below what any chunking error would change.
            Approx.Equal(expected, actual, atol: 1e-5, rtol: 0, $"FILIP loss in chunks of {chunk}");
        }
    }

    [Fact]
    public void TextMaskKeepsWordsAndEndOfTextButNotStartOrPadding()
    {
        using var scope = NewDisposeScope();
        // Row 0: start, "0" (a real token id), word, end, padding; row 1: empty caption; row 2: no padding.
        var ids = tensor(new long[] { 98, 0, 5, 99, 0, 0, 98, 99, 0, 0, 0, 0, 98, 1, 2, 3, 4, 99 }, new long[] { 3, 6 });
        var mask = FilipTokenFeatures.TextMask(ids).data<bool>().ToArray();
        Assert.Equal(new[] { false, true, true, true, false, false, false, true, false, false, false, false, false, true, true, true, true, true }, mask);
    }

    [Fact]
    public void AccumulationSplitGivesTheWholeBatchLoss()
    {
        using var scope = NewDisposeScope();
        manual_seed(1);
        var model = new ClipModel(TinyConfigs.Micro);
        model.eval();
        var objective = new FilipObjective(chunkSize: 3);
        objective.Initialize(model, model.Device);
        var pixels = randn(8, 3, 16, 16);
        var tokens = randint(1, 40, new long[] { 8, 8 });
        tokens[.., 0] = tensor(48L);
        for (int i = 0; i < 8; i++) tokens[i, 2 + i % 5] = tensor(49L); // end-of-text (largest id) at varied positions
        using var batch = new TrainingBatch(pixels, tokens);
        using var whole = objective.Encode(model, batch);
        var expected = objective.Loss(model, whole, true).item<float>();
        var parts = new List<ObjectiveFeatures> { objective.Encode(model, batch.Slice(0, 3)), objective.Encode(model, batch.Slice(3, 5)) };
        using var joined = ObjectiveFeatures.Concat(parts);
        var actual = objective.Loss(model, joined, false).item<float>();
        // Encoded as one batch of 8 or as 3 + 5: other GEMM shapes, embeddings ~1e-7 relative apart, times the logit
        // scale 14.3 and the token-wise max/mean (1-Lipschitz): a few 1e-6 on a loss of ~2. 2e-5 bounds it; a split
        // that lost the cross-part negatives moves it by ~log(8/5) ≈ 0.5.
        Approx.Equal(expected, actual, atol: 2e-5, rtol: 0, "FILIP loss of 3 + 5 rows vs 8");
        foreach (var p in parts) p.Dispose();
    }

    private static readonly ClipConfig Architecture = new()
    {
        EmbedDim = 32,
        Vision = new VisionConfig { ImageSize = 32, Layers = 2, Width = 64, HeadWidth = 32, PatchSize = 8 },
        Text = new TextConfig { ContextLength = 16, VocabSize = 600, Width = 64, Heads = 2, Layers = 2 },
    };

    private static readonly ShapeColour[] Colours = [ShapeColour.Red, ShapeColour.Green, ShapeColour.Blue, ShapeColour.Yellow];

    private static ShapesDatasetOptions Shapes(int count, int seed) => new()
    {
        Count = count, ImageSize = 32, Seed = seed, Colours = Colours, HeldOutPairs = [], VariedCaptions = false,
    };

    private static readonly Lazy<(MLContext Context, ClipEmbeddingTransformer Model, double Seconds)> Trained = new(() =>
    {
        var mlContext = new MLContext(seed: 1);
        var data = ShapesDataset.ToDataView(mlContext, Shapes(384, 1));
        var tokenizer = ClipBpeTrainer.Train(data.GetColumn<string>(ShapesColumns.Caption), new ClipBpeTrainerOptions { VocabularySize = 600 });
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var model = mlContext.Transforms.ClipPretrain(new ClipPretrainOptions
        {
            Architecture = Architecture,
            Tokenizer = tokenizer,
            ImageColumnName = ShapesColumns.ImageBytes,
            TextColumnName = ShapesColumns.Caption,
            Objective = new FilipObjective(chunkSize: 16),
            Epochs = 3,
            BatchSize = 32,
            ValidationData = ShapesDataset.ToDataView(mlContext, Shapes(64, 2)),
            Trainer = new ClipTrainerOptions { LearningRate = 2e-3, WarmupSteps = 5, MicroBatchSize = 16 },
            Seed = 3,
        }).Fit(data);
        return (mlContext, model, clock.Elapsed.TotalSeconds);
    });

    [Trait("Category", "Slow")]
    [Fact]
    public void TrainsThroughClipPretrainAndValidatesWithTokenWiseSimilarity()
    {
        var (_, model, seconds) = Trained.Value;
        var report = model.TrainingReport!;
        double first = report.Losses.Take(3).Average(l => l.Loss), last = report.Losses.TakeLast(3).Average(l => l.Loss);
        var v = report.Validation[^1];
        output.WriteLine($"{report.Steps} steps in {seconds:F1} s; loss {first:F3} -> {last:F3}; validation R@1 i2t {v.ImageToTextRecallAt1:F3} t2i {v.TextToImageRecallAt1:F3} mean R@5 {v.MeanRecallAt5:F3}");
        Assert.Same(ClipScoring.TokenWise, model.Bundle.Scoring);
        Assert.True(last < first - 0.5, $"loss {first:F3} -> {last:F3}");
        // 64 validation pairs: chance R@5 = 5/64 ≈ 0.08.
        Assert.True(v.MeanRecallAt5 > 0.25, $"validation mean R@5 {v.MeanRecallAt5:F3} (chance 0.08)");
    }

    [Trait("Category", "Slow")]
    [Fact]
    public void EvaluateRetrievalWithTheModelScoresTokenWise()
    {
        var (mlContext, model, _) = Trained.Value;
        var test = ShapesDataset.ToDataView(mlContext, Shapes(48, 6));
        var metrics = mlContext.EvaluateRetrieval(test, model.Bundle, ShapesColumns.ImageBytes, ShapesColumns.Caption, batchSize: 16);
        // By hand: token features of every pair, ranked with FILIP's symmetric token-wise score.
        var bundle = model.Bundle;
        var (images, _) = PairEncoder.Encode(bundle, test, ShapesColumns.ImageBytes, ShapesColumns.Caption, batchSize: 48);
        var captions = test.GetColumn<string>(ShapesColumns.Caption).Select(c => (string?)c).ToList();
        var (tokens, mask) = FilipTokenFeatures.EncodeText(bundle.Model, bundle.Tokenizer.EncodeBatch(captions, bundle.ContextLength));
        var expected = RetrievalEvaluator.Evaluate(images, FilipTokenFeatures.ZeroInvalid(tokens, mask), similarity: new FilipSimilarity().ScoreZeroPadded);
        Assert.Equal(expected.ImageToText.RecallAt1, metrics.ImageToText.RecallAt1);
        Assert.Equal(expected.TextToImage.RecallAt5, metrics.TextToImage.RecallAt5);
        Assert.Equal(expected.ImageToText.MeanRank, metrics.ImageToText.MeanRank, 6);
        // The embedding columns' cosine ranks differently: the token-wise score is what the model learned.
        output.WriteLine($"token-wise {metrics}; cosine of the embeddings {mlContext.EvaluateRetrieval(model.Transform(test))}");
    }

    [Fact]
    public void ZeroShotUsesTokenWiseSimilarityAndReloadsInAnotherProcess()
    {
        var (mlContext, model, _) = Trained.Value;
        var options = Shapes(64, 5);
        var test = ShapesDataset.ToDataView(mlContext, options);
        var classes = ShapesDataset.ClassNames(options);
        var zeroShot = mlContext.Transforms.ClipZeroShot(model.Bundle, classes, ShapesDataset.PromptTemplates, imageColumnName: ShapesColumns.ImageBytes).Fit(test);
        var chain = new TransformerChain<ITransformer>(model, zeroShot);

        // The stage's scores are softmax(scale · mean over prompts of ½(s^I + s^T)) computed here by hand.
        var scores = chain.Transform(test).GetColumn<float[]>("Score").ToArray();
        var bundle = model.Bundle;
        var (images, _) = PairEncoder.Encode(bundle, test, ShapesColumns.ImageBytes, ShapesColumns.Caption, batchSize: 64);
        var prompts = classes.SelectMany(c => ShapesDataset.PromptTemplates.Select(t => (string?)t.Replace("{}", c))).ToList();
        var (promptTokens, promptMask) = FilipTokenFeatures.EncodeText(bundle.Model, bundle.Tokenizer.EncodeBatch(prompts, bundle.ContextLength));
        var similarity = new FilipSimilarity(5).Score(images, null, promptTokens, promptMask)
            .view(images.shape[0], classes.Count, ShapesDataset.PromptTemplates.Count).mean([2]);
        var expected = (bundle.Model.LogitScale.detach().exp() * similarity).softmax(1);
        var actual = tensor(scores.SelectMany(s => s).ToArray(), expected.shape);
        Assert.True(actual.allclose(expected, rtol: 0, atol: 1e-4), $"max |diff| {(actual - expected).abs().max().item<float>()}");

        var labels = test.GetColumn<string>(ShapesColumns.Label).ToArray();
        int correct = scores.Select((s, i) => classes[Array.IndexOf(s, s.Max())] == labels[i] ? 1 : 0).Sum();
        output.WriteLine($"zero-shot accuracy {correct}/{labels.Length} over {classes.Count} classes");

        using var temp = new TempDirectory();
        string path = temp.File("filip.zip");
        mlContext.Model.Save(chain, test.Schema, path);
        var reloaded = ModelLoadProbe.TransformInNewProcess(mlContext, path, test, temp.Path);
        var expectedView = chain.Transform(test);
        foreach (var column in new[] { "ImageEmbedding", "TextEmbedding", "Score" })
            Assert.Equal(expectedView.GetColumn<float[]>(column).ToArray(), reloaded.GetColumn<float[]>(column).ToArray());
        Assert.Equal(expectedView.GetColumn<uint>("PredictedLabel").ToArray(), reloaded.GetColumn<uint>("PredictedLabel").ToArray());
        // The similarity kind survives a plain in-process reload too.
        var loaded = (TransformerChain<ITransformer>)mlContext.Model.Load(path, out _);
        Assert.Same(ClipScoring.TokenWise, ((ClipZeroShotTransformer)loaded.Last()).Bundle.Scoring);
    }
}

/// <summary>
/// Validation reads its pairs through the same bad-row policy as training, whatever the objective's scoring: with
/// <c>SkipBadRows</c> an unreadable validation row is skipped and counted, not a failure of the whole Fit.
/// </summary>
public class ValidationBadRowTests
{
    public static TheoryData<string> Objectives => new(["clip", "filip"]);

    [Theory]
    [MemberData(nameof(Objectives))]
    public void ValidationSkipsABadRowWithSkipBadRows(string objective)
    {
        var mlContext = new MLContext(seed: 1);
        var train = ShapesDataset.ToDataView(mlContext, ObjectiveShapesRun.Data(32, 1));
        var rows = ShapesDataset.ToDataView(mlContext, ObjectiveShapesRun.Data(12, 2));
        var pairs = rows.GetColumn<byte[]>(ShapesColumns.ImageBytes).Zip(rows.GetColumn<string>(ShapesColumns.Caption),
            (image, caption) => new Pair { ImageBytes = image, Caption = caption }).ToList();
        pairs[5].ImageBytes = [1, 2, 3, 4, 5, 6, 7, 8]; // not an image
        var model = mlContext.Transforms.ClipPretrain(new ClipPretrainOptions
        {
            Architecture = ObjectiveShapesRun.Architecture,
            Tokenizer = ObjectiveShapesRun.Tokenizer,
            Objective = objective == "filip" ? new FilipObjective(chunkSize: 8) : new ContrastiveObjective(),
            ImageColumnName = ShapesColumns.ImageBytes,
            TextColumnName = ShapesColumns.Caption,
            Epochs = 1,
            BatchSize = 16,
            ValidationData = mlContext.Data.LoadFromEnumerable(pairs),
            SkipBadRows = true,
            Seed = 3,
        }).Fit(train);
        var report = model.TrainingReport!;
        Assert.Equal(1, report.SkippedRows);
        Assert.Single(report.Validation);
    }

    private sealed class Pair
    {
        [VectorType] public byte[] ImageBytes { get; set; } = [];
        public string Caption { get; set; } = "";
    }
}
