using System;
using System.Linq;
using Microsoft.ML;
using Microsoft.ML.Clip.Datasets;
using Microsoft.ML.Clip.Training.Objectives;
using Microsoft.ML.Clip.Training.Objectives.Slip;
using Microsoft.ML.Clip.Transforms;
using Microsoft.ML.Data;
using Xunit;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace Microsoft.ML.Clip.Tests.Objectives;

public class SlipTests(ITestOutputHelper output)
{
    private static readonly Lazy<(MLContext Context, ClipEmbeddingTransformer Model, IDataView Data)> Trained =
        new(() => ObjectiveShapesRun.Pretrain(new SlipObjective(new SlipOptions { Seed = 5, HeadHiddenSize = 64, HeadOutputSize = 32, MinCropScale = 0.5 }), epochs: 5));

    [Fact]
    public void NtXentMatchesANaiveLoop()
    {
        var generator = new TorchSharp.torch.Generator(3);
        using var z1 = randn(new long[] { 5, 8 }, generator: generator);
        using var z2 = randn(new long[] { 5, 8 }, generator: generator);
        double tau = 0.1;
        double loss = SimClrLoss.Compute(z1, z2, tau).item<float>();

        var z = cat([z1, z2], 0);
        int n = 10;
        var v = Enumerable.Range(0, n).Select(i => z[i].data<float>().ToArray()).ToArray();
        double Norm(float[] a) => Math.Sqrt(a.Sum(x => (double)x * x));
        double Cos(int i, int j) => v[i].Zip(v[j]).Sum(p => (double)p.First * p.Second) / (Norm(v[i]) * Norm(v[j]));
        double total = 0;
        for (int i = 0; i < n; i++)
        {
            int positive = (i + 5) % n;
            double denominator = Enumerable.Range(0, n).Where(j => j != i).Sum(j => Math.Exp(Cos(i, j) / tau));
            total += -(Cos(i, positive) / tau - Math.Log(denominator));
        }
        // Cosines of 8-d fp32 vectors carry ≤ 8 × 6e-8 ≈ 5e-7 of rounding; τ = 0.1 multiplies that to 5e-6 per logit;
        // the log-sum-exp over 9 candidates is 1-Lipschitz and the mean adds ulps of ~2.5. 2e-5 bounds it; the
        // wrong positive (i + 4) or keeping the self-similarity in the denominator moves it by > 0.1.
        Approx.Equal(total / n, loss, atol: 2e-5, rtol: 0, "NT-Xent against the naive loop");
    }

    [Fact]
    public void ViewsAreRandomValidImagesAndReproducible()
    {
        var augmenter = new ViewAugmenter(0.3, PixelMean, PixelStd);
        var generator = new TorchSharp.torch.Generator(1);
        using var pixels = randn(new long[] { 4, 3, 32, 32 }, generator: generator).clamp(-1.5, 1.5);
        using var a = augmenter.View(pixels, new Random(7));
        using var b = augmenter.View(pixels, new Random(7));
        using var c = augmenter.View(pixels, new Random(8));
        Assert.Equal(pixels.shape, a.shape);
        Assert.True(a.equal(b).all().item<bool>(), "the same seed must give the same views");
        Assert.False(a.allclose(c), "different seeds must give different views");
        Assert.False(a.allclose(pixels), "a view must differ from the image");
        // Un-normalized, every view is a valid image in [0, 1].
        var mean = tensor(PixelMean.ToArray(), new long[] { 1, 3, 1, 1 });
        var std = tensor(PixelStd.ToArray(), new long[] { 1, 3, 1, 1 });
        var raw = a * std + mean;
        Assert.True(raw.min().item<float>() >= -1e-5 && raw.max().item<float>() <= 1 + 1e-5);
    }

    private static float[] PixelMean => Microsoft.ML.Clip.Imaging.ImagePreprocessingOptions.OpenAIClipMean.ToArray();

    private static float[] PixelStd => Microsoft.ML.Clip.Imaging.ImagePreprocessingOptions.OpenAIClipStd.ToArray();

    [Trait("Category", "Slow")]
    [Fact]
    public void PretrainingOnShapesLowersTheLossAndRetrievesAboveChance()
    {
        var (_, model, _) = Trained.Value;
        var report = model.TrainingReport!;
        double first = report.Losses.Take(3).Average(l => l.Loss), last = report.Losses.TakeLast(3).Average(l => l.Loss);
        var validation = report.Validation[^1];
        output.WriteLine($"{report.Steps} steps in {report.Seconds:F1} s; loss {first:F3} -> {last:F3}; validation mean R@5 {validation.MeanRecallAt5:F3}");
        Assert.True(last < 0.8 * first, $"loss {first:F3} -> {last:F3}");
        Assert.True(validation.MeanRecallAt5 > 0.3, $"validation R@5 {validation.MeanRecallAt5:F3} (chance ≈ 0.12)");
    }

    [Trait("Category", "Slow")]
    [Fact]
    public void TrainedModelReloadsInAnotherProcessWithIdenticalScores()
    {
        var (mlContext, model, _) = Trained.Value;
        ObjectiveShapesRun.AssertReloadsIdenticallyInAnotherProcess(mlContext, model, "slip");
    }
}
