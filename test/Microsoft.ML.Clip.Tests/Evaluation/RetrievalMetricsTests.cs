using System;
using System.Collections.Generic;
using System.Linq;
using Microsoft.ML;
using Microsoft.ML.Clip.Evaluation;
using Microsoft.ML.Data;
using Xunit;
using static TorchSharp.torch;

namespace Microsoft.ML.Clip.Tests.Evaluation;

/// <summary>
/// RetrievalEvaluator: known answers, chunking invariance, agreement with a naive O(N²) loop, scale, and the
/// ML.NET entry point.
/// </summary>
public class RetrievalMetricsTests
{
    // ----- constructions with known ranks -----

    /// <summary>Group sizes of the clique construction: every member of a group of size s has rank s.</summary>
    private static readonly int[] GroupSizes = [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 3, 3, 5, 5, 6, 10, 12];

    /// <summary>
    /// image_i = u_g + ½e_i, text_i = u_g − ½e_i with u_g the unit vector of i's group g: image_i·text_j is 1 for
    /// another member j of the group, 0.75 for j = i and 0 across groups (all norms equal, so cosines keep the
    /// order). Every other member of the group beats the true match: rank = group size, in both directions.
    /// </summary>
    private static (float[,] images, float[,] texts, int[] expectedRanks) Cliques()
    {
        int n = GroupSizes.Sum(), groups = GroupSizes.Length, d = groups + n;
        var images = new float[n, d];
        var texts = new float[n, d];
        var ranks = new int[n];
        int i = 0;
        for (int g = 0; g < groups; g++)
        {
            for (int m = 0; m < GroupSizes[g]; m++, i++)
            {
                images[i, g] = 1; texts[i, g] = 1;
                images[i, groups + i] = 0.5f; texts[i, groups + i] = -0.5f;
                ranks[i] = GroupSizes[g];
            }
        }
        // Shuffle the pairs so that groups are not contiguous (and chunk boundaries cut through them).
        var order = Enumerable.Range(0, n).OrderBy(k => (k * 37) % n).ToArray();
        var shuffledImages = new float[n, d];
        var shuffledTexts = new float[n, d];
        var shuffledRanks = new int[n];
        for (int k = 0; k < n; k++)
        {
            for (int j = 0; j < d; j++)
            {
                shuffledImages[k, j] = images[order[k], j];
                shuffledTexts[k, j] = texts[order[k], j];
            }
            shuffledRanks[k] = ranks[order[k]];
        }
        return (shuffledImages, shuffledTexts, shuffledRanks);
    }

    private static Tensor Matrix(float[,] values) => tensor(values);

    [Fact]
    public void IdentityEmbeddingsGivePerfectScores()
    {
        // Rows scaled by different positive factors: the default similarity normalizes them away.
        var scale = linspace(0.5, 3.0, 40).unsqueeze(1);
        var metrics = RetrievalEvaluator.Evaluate(eye(40) * scale, eye(40));

        Assert.Equal(40, metrics.Count);
        foreach (var direction in new[] { metrics.ImageToText, metrics.TextToImage })
        {
            Assert.Equal((1.0, 1.0, 1.0), (direction.RecallAt1, direction.RecallAt5, direction.RecallAt10));
            Assert.Equal((1.0, 1.0), (direction.MeanRank, direction.MedianRank));
            Assert.All(direction.Ranks, r => Assert.Equal(1, r));
        }
    }

    [Fact]
    public void CliqueConstructionGivesExactRecallAndRanks()
    {
        var (images, texts, expected) = Cliques();
        int n = expected.Length;
        Assert.Equal(64, n);

        foreach (int chunk in new[] { 1024, 5 })
        {
            var metrics = RetrievalEvaluator.Evaluate(Matrix(images), Matrix(texts), chunk);
            foreach (var direction in new[] { metrics.ImageToText, metrics.TextToImage })
            {
                Assert.Equal(expected, direction.Ranks);
                // 10 singletons; ≤ 5: + 5 pairs, 2 triples, 2 quintuples = 10 + 10 + 6 + 10 = 36; ≤ 10: + 6 + 10 = 52.
                Assert.Equal(10.0 / 64, direction.RecallAt1, 12);
                Assert.Equal(36.0 / 64, direction.RecallAt5, 12);
                Assert.Equal(52.0 / 64, direction.RecallAt10, 12);
                Assert.Equal(52.0 / 64, direction.RecallAt(11), 12);
                Assert.Equal(1.0, direction.RecallAt(12), 12);
                // Σ s² / N = (10 + 5·4 + 2·9 + 2·25 + 36 + 100 + 144) / 64 = 378 / 64.
                Assert.Equal(378.0 / 64, direction.MeanRank, 12);
                // Sorted ranks: 10 ones, 10 twos, 6 threes, 10 fives (positions 27–36): the 32nd and 33rd are 5.
                Assert.Equal(5.0, direction.MedianRank);
            }
        }
    }

    [Fact]
    public void TiesWithTheTrueMatchDoNotLowerItsRank()
    {
        // Pairs 0–3 share one embedding, pairs 4–5 another: every candidate of the same group scores exactly
        // the true match's score, and only strictly greater scores count.
        var rows = new float[,] { { 1, 0 }, { 1, 0 }, { 1, 0 }, { 1, 0 }, { 0, 1 }, { 0, 1 } };
        var metrics = RetrievalEvaluator.Evaluate(Matrix(rows), Matrix(rows), chunkSize: 4);
        Assert.All(metrics.ImageToText.Ranks.Concat(metrics.TextToImage.Ranks), r => Assert.Equal(1, r));
        // Counted against the true match, a query of the group of four ties with 3 others (rank 4), of the pair with 1 (rank 2).
        foreach (var direction in new[] { metrics.ImageToText, metrics.TextToImage })
        {
            Assert.Equal(6, direction.TiedQueries);
            Assert.Equal(new[] { 4, 4, 4, 4, 2, 2 }, direction.PessimisticRanks);
            Assert.Equal(0.0, direction.PessimisticRecallAt1);
            Assert.Equal(1.0, direction.PessimisticRecallAt5);
            Assert.Equal(1.0, direction.RecallAt1);
        }
        Assert.Contains("6 queries tied", metrics.ImageToText.ToString());

        var odd = RetrievalEvaluator.Evaluate(tensor(new float[] { 1, 2, 3 }).unsqueeze(1), ones(3, 1),
            similarity: (a, b) => a.mm(b.t()) * 0 + arange(3, ScalarType.Float32).unsqueeze(0) * a.mm(b.t()).sign());
        // Scores per image row are [0, 1, 2] for texts 0, 1, 2: true ranks 3, 2, 1; median of an odd count.
        Assert.Equal(new[] { 3, 2, 1 }, odd.ImageToText.Ranks);
        Assert.Equal(2.0, odd.ImageToText.MedianRank);
        Assert.Equal(0, odd.ImageToText.TiedQueries);
        Assert.Equal(odd.ImageToText.Ranks, odd.ImageToText.PessimisticRanks);
    }

    [Fact]
    public void MedianOfEvenCountAveragesTheMiddleRanks()
    {
        // Image i scores text j as −|i − j| + (i == 3 ? −10·[j == i] : 0): pair 3 is ranked last (rank 4), others first.
        Tensor Score(Tensor a, Tensor b)
        {
            var i = a.select(1, 0).unsqueeze(1);
            var j = b.select(1, 0).unsqueeze(0);
            var s = -(i - j).abs();
            return s - 10 * (i.eq(3) & j.eq(3)).to_type(ScalarType.Float32);
        }
        var ids = arange(4, ScalarType.Float32).unsqueeze(1);
        var metrics = RetrievalEvaluator.Evaluate(ids, ids, chunkSize: 3, similarity: Score);
        Assert.Equal(new[] { 1, 1, 1, 4 }, metrics.ImageToText.Ranks);
        Assert.Equal(1.0, metrics.ImageToText.MedianRank);
        Assert.Equal(7.0 / 4, metrics.ImageToText.MeanRank);
        Assert.Equal(0.75, metrics.ImageToText.RecallAt1);
        Assert.Equal(1.0, metrics.ImageToText.RecallAt5);
    }

    // ----- chunking and the naive reference -----

    /// <summary>
    /// ±1 embeddings of width 64, texts = images with a fraction of signs flipped: normalized entries are
    /// ±1/8, so every cosine is an exact multiple of 1/64 however it is summed; many exact ties.
    /// </summary>
    private static (float[,] images, float[,] texts) Signs(int n, double flip, int seed)
    {
        var random = new Random(seed);
        var images = new float[n, 64];
        var texts = new float[n, 64];
        for (int i = 0; i < n; i++)
        {
            for (int j = 0; j < 64; j++)
            {
                float v = random.Next(2) == 0 ? -1 : 1;
                images[i, j] = v;
                texts[i, j] = random.NextDouble() < flip ? -v : v;
            }
        }
        return (images, texts);
    }

    private static (float[,] images, float[,] texts) Gaussians(int n, int d, double noise, int seed)
    {
        var random = new Random(seed);
        double G() => Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble());
        var images = new float[n, d];
        var texts = new float[n, d];
        for (int i = 0; i < n; i++)
        {
            for (int j = 0; j < d; j++)
            {
                double v = G();
                images[i, j] = (float)v;
                texts[i, j] = (float)(v + noise * G());
            }
        }
        return (images, texts);
    }

    /// <summary>The definition, one pair at a time in double precision: cosine, rank = 1 + #strictly greater.</summary>
    private static (int[] ranks, bool[] nearTie) NaiveRanks(float[,] queries, float[,] candidates, double tieTolerance)
    {
        int n = queries.GetLength(0), d = queries.GetLength(1);
        double Cosine(float[,] a, int i, float[,] b, int j)
        {
            double dot = 0, na = 0, nb = 0;
            for (int k = 0; k < d; k++)
            {
                dot += (double)a[i, k] * b[j, k];
                na += (double)a[i, k] * a[i, k];
                nb += (double)b[j, k] * b[j, k];
            }
            return dot / Math.Sqrt(na) / Math.Sqrt(nb);
        }
        var ranks = new int[n];
        var nearTie = new bool[n];
        for (int i = 0; i < n; i++)
        {
            double truth = Cosine(queries, i, candidates, i);
            int rank = 1;
            for (int j = 0; j < n; j++)
            {
                if (j == i) continue;
                double s = Cosine(queries, i, candidates, j);
                if (s > truth) rank++;
                if (s != truth && Math.Abs(s - truth) < tieTolerance) nearTie[i] = true;
            }
            ranks[i] = rank;
        }
        return (ranks, nearTie);
    }

    [Fact]
    public void ChunkedEqualsUnchunked()
    {
        var (images, texts) = Signs(200, flip: 0.3, seed: 1);
        var whole = RetrievalEvaluator.Evaluate(Matrix(images), Matrix(texts), chunkSize: 200);
        Assert.True(whole.ImageToText.RecallAt1 is > 0.05 and < 0.95, "the data should give a spread of ranks");
        foreach (int chunk in new[] { 1, 7, 64, 199, 1000 })
        {
            var chunked = RetrievalEvaluator.Evaluate(Matrix(images), Matrix(texts), chunk);
            Assert.Equal(whole.ImageToText.Ranks, chunked.ImageToText.Ranks);
            Assert.Equal(whole.TextToImage.Ranks, chunked.TextToImage.Ranks);
        }

        // The same with a custom (plain dot product) similarity on integer data: exact arithmetic.
        Func<Tensor, Tensor, Tensor> dot = (a, b) => a.mm(b.t());
        var wholeDot = RetrievalEvaluator.Evaluate(Matrix(images), Matrix(texts), 200, dot);
        foreach (int chunk in new[] { 2, 13, 256 })
        {
            var chunked = RetrievalEvaluator.Evaluate(Matrix(images), Matrix(texts), chunk, dot);
            Assert.Equal(wholeDot.ImageToText.Ranks, chunked.ImageToText.Ranks);
            Assert.Equal(wholeDot.TextToImage.Ranks, chunked.TextToImage.Ranks);
        }
        // ±1 vectors all have the same norm, so the dot product ranks like the cosine.
        Assert.Equal(whole.ImageToText.Ranks, wholeDot.ImageToText.Ranks);
    }

    [Fact]
    public void NaiveLoopAgreesOnExactData()
    {
        var (images, texts) = Signs(250, flip: 0.35, seed: 2);
        var metrics = RetrievalEvaluator.Evaluate(Matrix(images), Matrix(texts), chunkSize: 32);
        Assert.Equal(NaiveRanks(images, texts, 0).ranks, metrics.ImageToText.Ranks);
        Assert.Equal(NaiveRanks(texts, images, 0).ranks, metrics.TextToImage.Ranks);
    }

    [Fact]
    public void NaiveLoopAgreesOnGaussianData()
    {
        // Unnormalized Gaussian embeddings. fp32 and double cosines can order two scores within ~1e-6 of each
        // other differently, so queries with such a near tie are left out (there are few).
        var (images, texts) = Gaussians(400, 16, noise: 1.2, seed: 3);
        var metrics = RetrievalEvaluator.Evaluate(Matrix(images), Matrix(texts), chunkSize: 48);
        foreach (var (actual, (expected, nearTie)) in new[]
        {
            (metrics.ImageToText, NaiveRanks(images, texts, 1e-5)),
            (metrics.TextToImage, NaiveRanks(texts, images, 1e-5)),
        })
        {
            Assert.True(nearTie.Count(t => t) < 20, $"{nearTie.Count(t => t)} near ties");
            Assert.True(expected.Distinct().Count() > 20, "the data should give a spread of ranks");
            for (int i = 0; i < expected.Length; i++)
            {
                if (!nearTie[i])
                    Assert.True(expected[i] == actual.Ranks[i], $"query {i}: naive rank {expected[i]}, evaluator {actual.Ranks[i]}");
            }
            Assert.Equal(expected.Count(r => r == 1) / 400.0, actual.RecallAt1, 0.05);
        }
    }

    [Trait("Category", "Slow")]
    [Fact]
    public void TwentyThousandPairsInChunks()
    {
        var generator = manual_seed(5);
        var images = randn(20_000, 32, generator: generator);
        var texts = images + 0.8 * randn(20_000, 32, generator: generator);

        var metrics = RetrievalEvaluator.Evaluate(images, texts, chunkSize: 1024);

        Assert.Equal(20_000, metrics.Count);
        foreach (var direction in new[] { metrics.ImageToText, metrics.TextToImage })
        {
            Assert.Equal(20_000, direction.Ranks.Count);
            Assert.All(direction.Ranks, r => Assert.InRange(r, 1, 20_000));
            Assert.True(direction.RecallAt1 > 0.1, direction.ToString());
            Assert.True(direction.RecallAt1 <= direction.RecallAt5 && direction.RecallAt5 <= direction.RecallAt10, direction.ToString());
            Assert.True(direction.MedianRank <= direction.MeanRank, direction.ToString());
        }
    }

    // ----- the similarity hook and input checks -----

    [Fact]
    public void SimilarityHookReceivesImagesFirstAndChunksOfQueries()
    {
        var calls = new List<(long[] images, long[] texts)>();
        var (images, texts) = Signs(10, flip: 0.2, seed: 4);
        var imageTensor = Matrix(images).unsqueeze(1); // [N, 1, D]: token-level embeddings are allowed with a hook
        var textTensor = Matrix(texts).unsqueeze(1);
        var metrics = RetrievalEvaluator.Evaluate(imageTensor, textTensor, chunkSize: 4, similarity: (a, b) =>
        {
            calls.Add((a.shape, b.shape));
            return a.squeeze(1).mm(b.squeeze(1).t());
        });

        var expected = new[] { 4L, 4, 2 }.Select(c => (new[] { c, 1L, 64 }, new[] { 10L, 1, 64 }))
            .Concat(new[] { 4L, 4, 2 }.Select(c => (new[] { 10L, 1, 64 }, new[] { c, 1L, 64 }))).ToList();
        Assert.Equal(expected.Count, calls.Count);
        for (int k = 0; k < calls.Count; k++)
        {
            Assert.Equal(expected[k].Item1, calls[k].images);
            Assert.Equal(expected[k].Item2, calls[k].texts);
        }
        var reference = RetrievalEvaluator.Evaluate(Matrix(images), Matrix(texts));
        Assert.Equal(reference.ImageToText.Ranks, metrics.ImageToText.Ranks);
        Assert.Equal(reference.TextToImage.Ranks, metrics.TextToImage.Ranks);
    }

    [Fact]
    public void WrongSimilarityShapeOrInputsAreReported()
    {
        var x = randn(6, 4);
        var ex = Assert.Throws<InvalidOperationException>(() => RetrievalEvaluator.Evaluate(x, x, similarity: (a, b) => a.mm(b.t()).narrow(1, 0, 3)));
        Assert.Contains("[6, 6]", ex.Message);
        Assert.Throws<ArgumentException>(() => RetrievalEvaluator.Evaluate(x, randn(5, 4)));
        Assert.Throws<ArgumentException>(() => RetrievalEvaluator.Evaluate(x, randn(6, 3)));
        Assert.Throws<ArgumentException>(() => RetrievalEvaluator.Evaluate(x.unsqueeze(1), x.unsqueeze(1)));
        Assert.Throws<ArgumentOutOfRangeException>(() => RetrievalEvaluator.Evaluate(x, x, chunkSize: 0));
    }

    [Fact]
    public void OtherFloatingTypesAreAccepted()
    {
        var (images, texts, expected) = Cliques();
        var asDouble = RetrievalEvaluator.Evaluate(Matrix(images).to_type(ScalarType.Float64), Matrix(texts));
        var asBf16 = RetrievalEvaluator.Evaluate(Matrix(images).to_type(ScalarType.BFloat16), Matrix(texts).to_type(ScalarType.BFloat16));
        Assert.Equal(expected, asDouble.ImageToText.Ranks);
        Assert.Equal(expected, asBf16.TextToImage.Ranks);
    }

    // ----- ML.NET entry point -----

    public sealed class PairRow
    {
        [VectorType(86)] public float[] ImageEmbedding { get; set; } = [];
        [VectorType(86)] public float[] TextEmbedding { get; set; } = [];
    }

    private static IEnumerable<PairRow> Rows(float[,] images, float[,] texts) =>
        Enumerable.Range(0, images.GetLength(0)).Select(i => new PairRow
        {
            ImageEmbedding = Enumerable.Range(0, images.GetLength(1)).Select(j => images[i, j]).ToArray(),
            TextEmbedding = Enumerable.Range(0, texts.GetLength(1)).Select(j => texts[i, j]).ToArray(),
        });

    [Fact]
    public void MLContextEntryPointReadsTheColumns()
    {
        var mlContext = new MLContext(seed: 0);
        var (images, texts, expected) = Cliques();
        Assert.Equal(86, images.GetLength(1));
        var metrics = mlContext.EvaluateRetrieval(mlContext.Data.LoadFromEnumerable(Rows(images, texts)), chunkSize: 10);
        Assert.Equal(expected, metrics.ImageToText.Ranks);
        Assert.Equal(expected, metrics.TextToImage.Ranks);
    }

    public sealed class WideRow
    {
        [VectorType(64)] public float[] Image { get; set; } = [];
        [VectorType(64)] public float[] Text { get; set; } = [];
    }

    [Fact]
    public void MLContextEntryPointMatchesTensorsAcrossReadBlocks()
    {
        // 5000 rows cross the reader's 4096-row block boundary.
        var mlContext = new MLContext(seed: 0);
        var (images, texts) = Signs(5000, flip: 0.25, seed: 6);
        var rows = Enumerable.Range(0, 5000).Select(i => new WideRow
        {
            Image = Enumerable.Range(0, 64).Select(j => images[i, j]).ToArray(),
            Text = Enumerable.Range(0, 64).Select(j => texts[i, j]).ToArray(),
        });
        var fromData = mlContext.EvaluateRetrieval(mlContext.Data.LoadFromEnumerable(rows), "Image", "Text");
        var fromTensors = RetrievalEvaluator.Evaluate(Matrix(images), Matrix(texts));
        Assert.Equal(fromTensors.ImageToText.Ranks, fromData.ImageToText.Ranks);
        Assert.Equal(fromTensors.TextToImage.Ranks, fromData.TextToImage.Ranks);
    }

    public sealed class BadRow
    {
        [VectorType(3)] public float[] ImageEmbedding { get; set; } = [];
        public float Scalar { get; set; }
        [VectorType] public float[] Variable { get; set; } = [];
        [VectorType(3)] public double[] Doubles { get; set; } = [];
        [VectorType(2)] public float[] Narrow { get; set; } = [];
    }

    [Theory]
    [InlineData("Missing", "Could not find text embedding column 'Missing'")]
    [InlineData("Scalar", "'Scalar': expected known-size vector of Single")]
    [InlineData("Variable", "'Variable': expected known-size vector of Single")]
    [InlineData("Doubles", "'Doubles': expected known-size vector of Single")]
    [InlineData("Narrow", "'Narrow': expected Vector<Single, 3> (the width of image embedding column 'ImageEmbedding')")]
    public void MLContextEntryPointNamesTheBadColumn(string textColumn, string expectedMessage)
    {
        var mlContext = new MLContext(seed: 0);
        var data = mlContext.Data.LoadFromEnumerable(new[]
        {
            new BadRow { ImageEmbedding = [1, 0, 0], Variable = [1, 2], Doubles = [1, 2, 3], Narrow = [1, 2] },
        });
        var ex = Assert.ThrowsAny<ArgumentException>(() => mlContext.EvaluateRetrieval(data, "ImageEmbedding", textColumn));
        Assert.Contains(expectedMessage, ex.Message);
        ex = Assert.ThrowsAny<ArgumentException>(() => mlContext.EvaluateRetrieval(data, textColumn, "ImageEmbedding"));
        Assert.Contains($"'{textColumn}'", ex.Message);
    }
}
