using System;
using System.Diagnostics;
using System.IO;
using System.Linq;
using Microsoft.Extensions.AI;
using Microsoft.ML.Clip.Extensions.AI;
using Microsoft.ML.Clip.Modeling;
using Microsoft.ML.Clip.OnnxRuntime;
using Microsoft.ML.Clip.SampleData;
using Microsoft.ML.Clip.Tokenization;
using Microsoft.ML.Data;
using static TorchSharp.torch;

namespace Microsoft.ML.Clip.Benchmarks;

/// <summary>
/// The Microsoft.Extensions.AI embedding generators against the ML.NET stages on one ViT-B-32 (random weights, fp32):
/// <c>count</c> shapes images (PNG, 256 px: decoded, resized and cropped to 224) and their captions, through the
/// <c>ClipImageEmbedding</c>/<c>ClipTextEmbedding</c> stages, the TorchSharp generators and the ONNX Runtime generators
/// (fp32 export), each at the stages' default batch sizes (32 images, 64 texts) after a warm-up batch. One JSON line
/// per route and kind: throughput, its ratio to the stage's, and the largest difference from the stage's embeddings.
/// </summary>
internal static class GeneratorBenchmark
{
    public sealed class Row
    {
        [VectorType] public byte[] Image { get; set; } = [];
        public string Text { get; set; } = "";
    }

    public static void Run(int count = 2000)
    {
        var examples = ShapesDataset.Generate(new ShapesDatasetOptions { Count = count, ImageSize = 256, Seed = 3 });
        var captions = examples.Select(e => e.Caption).ToArray();
        var images = examples.Select(e => new DataContent(e.ImageBytes, "image/png")).ToArray();
        manual_seed(0);
        var model = new ClipModel(ClipPresets.VitB32);
        model.eval();
        using var bundle = new ClipModelBundle(model, ClipBpeTrainer.Train(captions, new ClipBpeTrainerOptions { VocabularySize = 2000 }));

        var mlContext = new MLContext(seed: 0);
        var data = mlContext.Data.LoadFromEnumerable(examples.Select(e => new Row { Image = e.ImageBytes, Text = e.Caption }).ToList());
        var imageStage = mlContext.Transforms.ClipImageEmbedding(bundle).Fit(data);
        var textStage = mlContext.Transforms.ClipTextEmbedding(bundle).Fit(data);
        var warm = mlContext.Data.TakeRows(data, 32);
        imageStage.Transform(warm).GetColumn<float[]>("ImageEmbedding").ToArray();
        textStage.Transform(warm).GetColumn<float[]>("TextEmbedding").ToArray();
        var (stageImageSeconds, stageImages) = Time(() => imageStage.Transform(data).GetColumn<float[]>("ImageEmbedding").ToArray());
        var (stageTextSeconds, stageTexts) = Time(() => textStage.Transform(data).GetColumn<float[]>("TextEmbedding").ToArray());
        Report("stage", count, stageImageSeconds, stageTextSeconds, stageImageSeconds, stageTextSeconds, 0, 0);

        using (var imageGenerator = new ClipImageEmbeddingGenerator(bundle))
        using (var textGenerator = new ClipTextEmbeddingGenerator(bundle))
            MeasureGenerators("torchsharp-generator", imageGenerator, textGenerator, images, captions, stageImages, stageTexts, stageImageSeconds, stageTextSeconds);

        string folder = Path.Combine(Path.GetTempPath(), $"clip-generator-bench-{Guid.NewGuid():N}");
        try
        {
            bundle.ExportOnnx(folder);
            using var imageGenerator = new ClipOnnxImageEmbeddingGenerator(folder);
            using var textGenerator = new ClipOnnxTextEmbeddingGenerator(folder);
            MeasureGenerators("onnxruntime-generator", imageGenerator, textGenerator, images, captions, stageImages, stageTexts, stageImageSeconds, stageTextSeconds);
        }
        finally
        {
            if (Directory.Exists(folder)) Directory.Delete(folder, recursive: true);
        }
    }

    private static void MeasureGenerators(string route, IEmbeddingGenerator<DataContent, Embedding<float>> imageGenerator,
        IEmbeddingGenerator<string, Embedding<float>> textGenerator, DataContent[] images, string[] captions,
        float[][] stageImages, float[][] stageTexts, double stageImageSeconds, double stageTextSeconds)
    {
        imageGenerator.GenerateAsync(images[..32]).GetAwaiter().GetResult();
        textGenerator.GenerateAsync(captions[..64]).GetAwaiter().GetResult();
        var (imageSeconds, imageVectors) = Time(() => imageGenerator.GenerateAsync(images).GetAwaiter().GetResult().Select(e => e.Vector.ToArray()).ToArray());
        var (textSeconds, textVectors) = Time(() => textGenerator.GenerateAsync(captions).GetAwaiter().GetResult().Select(e => e.Vector.ToArray()).ToArray());
        Report(route, images.Length, imageSeconds, textSeconds, stageImageSeconds, stageTextSeconds, MaxDiff(stageImages, imageVectors), MaxDiff(stageTexts, textVectors));
    }

    private static (double Seconds, float[][] Vectors) Time(Func<float[][]> run)
    {
        var clock = Stopwatch.StartNew();
        var vectors = run();
        return (clock.Elapsed.TotalSeconds, vectors);
    }

    private static double MaxDiff(float[][] a, float[][] b) =>
        a.Zip(b).Max(p => p.First.Zip(p.Second).Max(q => Math.Abs((double)q.First - q.Second)));

    private static void Report(string route, int count, double imageSeconds, double textSeconds, double stageImageSeconds, double stageTextSeconds,
        double imageDiff, double textDiff)
    {
        // Differences as text: Measure.Report rounds numbers to 4 decimals, which would show ~1e-6 as 0.
        Measure.Report($"vit-b-32-image-embedding-{route}", ("images_per_s", count / imageSeconds), ("of_stage", stageImageSeconds / imageSeconds),
            ("images", count), ("max_abs_diff_vs_stage", imageDiff.ToString("0.0e0", System.Globalization.CultureInfo.InvariantCulture)), ("threads", Environment.ProcessorCount));
        Measure.Report($"vit-b-32-text-embedding-{route}", ("texts_per_s", count / textSeconds), ("of_stage", stageTextSeconds / textSeconds),
            ("texts", count), ("max_abs_diff_vs_stage", textDiff.ToString("0.0e0", System.Globalization.CultureInfo.InvariantCulture)), ("threads", Environment.ProcessorCount));
    }
}
