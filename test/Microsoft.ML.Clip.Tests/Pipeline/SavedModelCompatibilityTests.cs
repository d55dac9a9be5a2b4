using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text.Json;
using Microsoft.ML;
using Microsoft.ML.Clip.Modeling;
using Microsoft.ML.Clip.Tokenization;
using Microsoft.ML.Clip.Scoring;
using Microsoft.ML.Clip.Transforms;
using Microsoft.ML.Data;
using Xunit;
using static TorchSharp.torch;

namespace Microsoft.ML.Clip.Tests.Pipeline;

/// <summary>
/// Model zips written by an earlier version of the library (TestData/models, see its README) must keep loading with
/// a plain <c>mlContext.Model.Load</c> and score as they did then: embeddings and zero-shot probabilities of a
/// global-cosine (CLIP), a token-wise (FILIP) and a sigmoid-with-bias (SigLIP) model on fixed inputs.
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
}
