using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text.Json;
using Microsoft.ML;
using Microsoft.ML.Clip.Modeling;
using Microsoft.ML.Clip.Tokenization;
using Microsoft.ML.Clip.Trainers;
using Microsoft.ML.Clip.Scoring;
using Microsoft.ML.Clip.Transforms;
using Microsoft.ML.Data;
using Microsoft.ML.Trainers;
using Xunit;
using static TorchSharp.torch;

namespace Microsoft.ML.Clip.Tests.Pipeline;

/// <summary>
/// Model zips written by an earlier version of the library (TestData/models, see its README) must keep loading with
/// a plain <c>mlContext.Model.Load</c> and score as they did then: embeddings and zero-shot probabilities of a
/// global-cosine (CLIP), a token-wise (FILIP) and a sigmoid-with-bias (SigLIP) model on fixed inputs, and a linear
/// probe saved when it was stored as ML.NET's transformer alone.
/// </summary>
public class SavedModelCompatibilityTests
{
    private static readonly string Folder = Path.Combine(AppContext.BaseDirectory, "TestData", "models");

    internal static readonly string[] Classes = ["red", "green", "blue", "yellow"];
    internal static readonly string[] Templates = ["a {} picture", "a photo of {}"];
    internal static readonly string[] Kinds = ["clip", "filip", "siglip"];

    /// <summary>The stored inputs and the scores the writing version computed for them.</summary>
    public sealed class Expected
    {
        public string WrittenBy { get; set; } = "";
        public string[] ImagesPng { get; set; } = [];
        public string[] Texts { get; set; } = [];
        public Dictionary<string, Scores> Models { get; set; } = [];
    }

    public sealed class Scores
    {
        public float[][] ImageEmbedding { get; set; } = [];
        public float[][] TextEmbedding { get; set; } = [];
        public float[][] Score { get; set; } = [];
        public uint[] PredictedLabel { get; set; } = [];
    }

    public sealed class Row
    {
        public byte[] ImageBytes { get; set; } = [];
        public string Text { get; set; } = "";
    }

    public static TheoryData<string> ModelKinds => new(Kinds);

    /// <summary>
    /// Same weights, inputs and kernels as when the scores were written, so on the writing machine the scores are
    /// identical; elsewhere libtorch may pick other kernels (AVX2 vs AVX-512, MKL's blocking, thread count), which
    /// changes float32 summation order: about 1e-6 relative per operation through two small transformer layers, so
    /// 1e-4 absolute on unit vectors and probabilities. A misread format (lost bias or similarity, wrong weights,
    /// other preprocessing) moves these random-weight scores by 1e-2 or more.
    /// </summary>
    private const float Tolerance = 1e-4f;

    [Theory]
    [MemberData(nameof(ModelKinds))]
    public void ZipFromAnEarlierVersionLoadsAndScoresAsThen(string kind)
    {
        var expected = ReadExpected();
        var mlContext = new MLContext(seed: 0);
        var data = Inputs(mlContext, expected);
        var model = mlContext.Model.Load(Path.Combine(Folder, $"{kind}-v1.zip"), out var schema);
        Assert.NotNull(schema.GetColumnOrNull("ImageBytes"));
        var scored = model.Transform(data);
        var want = expected.Models[kind];
        AssertClose(want.ImageEmbedding, scored.GetColumn<float[]>("ImageEmbedding").ToArray(), $"{kind} ImageEmbedding");
        AssertClose(want.TextEmbedding, scored.GetColumn<float[]>("TextEmbedding").ToArray(), $"{kind} TextEmbedding");
        AssertClose(want.Score, scored.GetColumn<float[]>("Score").ToArray(), $"{kind} Score");
        Assert.Equal(want.PredictedLabel, scored.GetColumn<uint>("PredictedLabel").ToArray());
    }

    /// <summary>
    /// Rewrote TestData/models (with the code of main at cf0dc91, where FILIP was <c>Similarity = ClipSimilarityKind.FilipTokenWise</c>) when <c>CLIP_WRITE_SAVED_MODELS</c> names the source folder
    /// (test/Microsoft.ML.Clip.Tests/TestData/models). Do that only for a new format version: the committed zips are
    /// the old versions this test guards.
    /// </summary>
    [Fact]
    public void WriteModels()
    {
        string? target = Environment.GetEnvironmentVariable("CLIP_WRITE_SAVED_MODELS");
        if (string.IsNullOrEmpty(target)) return;
        Directory.CreateDirectory(target);
        var rows = ColourPairs.Rows(6, seed: 11).Select(r => new Row { ImageBytes = r.ImageBytes, Text = r.Text }).ToArray();
        rows[4].Text = "a photo of green";
        rows[5].Text = "yellow or blue";
        var expected = new Expected
        {
            WrittenBy = "ClipMlNet main at cf0dc91 (bundle format version 1; FILIP as the ClipSimilarity.bin entry)",
            ImagesPng = rows.Select(r => Convert.ToBase64String(r.ImageBytes)).ToArray(),
            Texts = rows.Select(r => r.Text).ToArray(),
        };
        var mlContext = new MLContext(seed: 0);
        var data = Inputs(mlContext, expected);
        var captions = ColourPairs.Rows(64, seed: 1).Select(r => r.Text).Concat(rows.Select(r => r.Text))
            .Concat(Classes.SelectMany(c => Templates.Select(t => t.Replace("{}", c)))).ToList();
        var tokenizer = ClipBpeTrainer.Train(captions, new ClipBpeTrainerOptions { VocabularySize = 540 });
        foreach (var kind in Kinds)
        {
            var bundle = CreateBundle(kind, tokenizer);
            var pipeline = mlContext.Transforms.ClipImageEmbedding(bundle, "ImageEmbedding", "ImageBytes", batchSize: 4)
                .Append(mlContext.Transforms.ClipTextEmbedding(bundle, "TextEmbedding", "Text", batchSize: 4))
                .Append(mlContext.Transforms.ClipZeroShot(bundle, Classes, Templates, imageColumnName: "ImageBytes", batchSize: 4));
            var model = pipeline.Fit(data);
            string path = Path.Combine(target, $"{kind}-v1.zip");
            mlContext.Model.Save(model, data.Schema, path);
            var scored = mlContext.Model.Load(path, out _).Transform(data);
            expected.Models[kind] = new Scores
            {
                ImageEmbedding = scored.GetColumn<float[]>("ImageEmbedding").ToArray(),
                TextEmbedding = scored.GetColumn<float[]>("TextEmbedding").ToArray(),
                Score = scored.GetColumn<float[]>("Score").ToArray(),
                PredictedLabel = scored.GetColumn<uint>("PredictedLabel").ToArray(),
            };
        }
        File.WriteAllText(Path.Combine(target, "expected-v1.json"), JsonSerializer.Serialize(expected, new JsonSerializerOptions { WriteIndented = true }));
    }

    /// <summary>A tiny random model (seeded) of the given scoring kind, with a SigLIP bias that keeps probabilities readable.</summary>
    private static ClipModelBundle CreateBundle(string kind, ClipTokenizer tokenizer)
    {
        var config = new ClipConfig
        {
            EmbedDim = 16,
            Vision = new VisionConfig { ImageSize = 16, Layers = 1, Width = 16, HeadWidth = 16, PatchSize = 8 },
            Text = new TextConfig { ContextLength = 8, VocabSize = tokenizer.VocabularySize, Width = 16, Heads = 1, Layers = 1 },
        };
        if (kind == "siglip") config = config with { InitLogitScale = Math.Log(10), InitLogitBias = -1.5 }; // SigLIP's scale, a milder bias
        manual_seed(kind.Length * 7 + 1);
        var model = new ClipModel(config);
        model.eval();
        return new ClipModelBundle(model, tokenizer) { Scoring = kind == "filip" ? ClipScoring.TokenWise : ClipScoring.For(model) };
    }

    private static Expected ReadExpected() =>
        JsonSerializer.Deserialize<Expected>(File.ReadAllText(Path.Combine(Folder, "expected-v1.json")))!;

    private static IDataView Inputs(MLContext mlContext, Expected expected) => mlContext.Data.LoadFromEnumerable(
        expected.ImagesPng.Select((png, i) => new Row { ImageBytes = Convert.FromBase64String(png), Text = expected.Texts[i] }).ToList());

    private static void AssertClose(float[][] expected, float[][] actual, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
        {
            Assert.Equal(expected[i].Length, actual[i].Length);
            for (int j = 0; j < expected[i].Length; j++)
                Assert.True(Math.Abs(expected[i][j] - actual[i][j]) <= Tolerance, $"{what}[{i}][{j}]: {actual[i][j]} vs {expected[i][j]} written");
        }
    }

    public sealed class ProbeRow
    {
        public string Label { get; set; } = "";

        [VectorType(4)]
        public float[] Features { get; set; } = [];
    }

    /// <summary>The probe's inputs and the scores of the version that wrote it.</summary>
    public sealed class ProbeExpected
    {
        public string WrittenBy { get; set; } = "";
        public ProbeRow[] Rows { get; set; } = [];
        public float[][] Score { get; set; } = [];
    }

    /// <summary>
    /// A ClipLinearProbe pipeline saved before the probe had its own format (it saved ML.NET's
    /// <c>MulticlassPredictionTransformer</c> alone): it loads as that type and scores as then. The scores are ML.NET's
    /// own fp32 matrix-vector product and softmax over 4 features and 3 classes on fixed weights: other SIMD widths change
    /// the summation order by a few ulps; 1e-5 bounds that, while a misread weight or class order moves them by 1e-2 or more.
    /// </summary>
    [Fact]
    public void LinearProbeZipFromAnEarlierVersionLoadsAsMlNetsTransformerAndScoresAsThen()
    {
        var expected = JsonSerializer.Deserialize<ProbeExpected>(File.ReadAllText(Path.Combine(Folder, "probe-v1.json")))!;
        var mlContext = new MLContext(seed: 0);
        var data = mlContext.Data.LoadFromEnumerable(expected.Rows);
        var model = (TransformerChain<ITransformer>)mlContext.Model.Load(Path.Combine(Folder, "probe-v1.zip"), out _);
        Assert.Single(model.OfType<MulticlassPredictionTransformer<MaximumEntropyModelParameters>>());
        var scores = model.Transform(data).GetColumn<float[]>("Score").ToArray();
        Assert.Equal(expected.Score.Length, scores.Length);
        for (int i = 0; i < scores.Length; i++)
            for (int k = 0; k < scores[i].Length; k++)
                Assert.True(Math.Abs(expected.Score[i][k] - scores[i][k]) <= 1e-5f, $"probe Score[{i}][{k}]: {scores[i][k]} vs {expected.Score[i][k]} written");
    }

    /// <summary>
    /// Wrote TestData/models/probe-v1.zip (with <c>CLIP_WRITE_SAVED_MODELS</c> set) in the format versions up to 3aa2e9d
    /// wrote: the pipeline with the probe's <see cref="ClipLinearProbeTransformer.Inner"/> in its place, which is what those
    /// versions' save wrote for the probe. Never rewrite it.
    /// </summary>
    [Fact]
    public void WriteLinearProbeModel()
    {
        string? target = Environment.GetEnvironmentVariable("CLIP_WRITE_SAVED_MODELS");
        if (string.IsNullOrEmpty(target)) return;
        var random = new Random(5);
        string[] classes = ["cat", "dog", "bird"];
        var rows = Enumerable.Range(0, 30).Select(i => new ProbeRow
        {
            Label = classes[i % 3],
            Features = Enumerable.Range(0, 4).Select(j => (float)(random.NextDouble() - 0.5 + (j == i % 3 ? 1.0 : 0.0))).ToArray(),
        }).ToArray();
        var mlContext = new MLContext(seed: 0);
        var data = mlContext.Data.LoadFromEnumerable(rows);
        var keys = mlContext.Transforms.Conversion.MapValueToKey("Label").Fit(data);
        var probe = mlContext.MulticlassClassification.Trainers.ClipLinearProbe(new ClipLinearProbeOptions { Seed = 1, NumberOfThreads = 1, RefinementSteps = 1 })
            .Fit(keys.Transform(data));
        var model = new TransformerChain<ITransformer>(keys, probe.Inner);
        string path = Path.Combine(target, "probe-v1.zip");
        mlContext.Model.Save(model, data.Schema, path);
        var scores = mlContext.Model.Load(path, out _).Transform(data).GetColumn<float[]>("Score").ToArray();
        var expected = new ProbeExpected { WrittenBy = "ClipMlNet arch branch, the probe saved as its Inner (the format up to main 3aa2e9d)", Rows = rows, Score = scores };
        File.WriteAllText(Path.Combine(target, "probe-v1.json"), JsonSerializer.Serialize(expected, new JsonSerializerOptions { WriteIndented = true }));
    }
}
