// The consumer check: what an application built from the packages must be able to do (.ci/consumer-check runs it).
//   ConsumerCheck data <folder>                  generated image–caption pairs: PNG files and pairs.csv
//   ConsumerCheck train <folder> <zip> <scores>  pretrains a few steps on them, saves the pipeline, writes its scores; embeds
//                                                the pairs through the Microsoft.Extensions.AI generators of both packages
//                                                (TorchSharp over the bundle, ONNX Runtime over its export) and compares them
//                                                with the pipeline's embeddings
//   ConsumerCheck score <folder> <zip> <scores>  a plain Model.Load of the zip (this process never built it), scores the
//                                                same pairs and compares with <scores>: identical, or exit code 1
// Every command first prints the ML.NET, SkiaSharp and TorchSharp it runs on and makes a tensor, so a TorchSharp that
// cannot load its native library fails the check at once.
using System.Globalization;
using System.Reflection;
using Microsoft.ML;
using Microsoft.Extensions.AI;
using Microsoft.ML.Clip;
using Microsoft.ML.Clip.Extensions.AI;
using Microsoft.ML.Clip.Modeling;
using Microsoft.ML.Clip.OnnxRuntime;
using Microsoft.ML.Clip.Tokenization;
using Microsoft.ML.Data;
using SkiaSharp;
using static TorchSharp.torch;

if (args.Length < 2)
{
    Console.Error.WriteLine("usage: ConsumerCheck data <folder> | train <folder> <zip> <scores> | score <folder> <zip> <scores>");
    return 2;
}
Console.WriteLine($"ML.NET {VersionOf(typeof(MLContext))}, SkiaSharp {VersionOf(typeof(SKImage))} (native {SkiaSharpVersion.Native}), " +
                  $"TorchSharp {VersionOf(typeof(TorchSharp.torch))}: ones(3).sum() = {ones(3).sum().item<float>()}");

string folder = args[1];
switch (args[0])
{
    case "data":
        Pairs.Write(folder);
        return 0;
    case "train" when args.Length == 4:
        Check.Train(folder, args[2], args[3]);
        return 0;
    case "score" when args.Length == 4:
        return Check.ScoreAndCompare(folder, args[2], args[3]) ? 0 : 1;
    default:
        Console.Error.WriteLine($"unknown command or wrong arguments: {string.Join(' ', args)}");
        return 2;
}

static string VersionOf(Type type) =>
    type.Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion.Split('+')[0] ?? "?";

static class Check
{
    private static readonly string[] Classes = ["circle", "square", "triangle"];

    public static void Train(string folder, string zipPath, string scoresPath)
    {
        var mlContext = new MLContext(seed: 1);
        var pairs = mlContext.Data.LoadFromImageManifest(Path.Combine(folder, "pairs.csv"));
        var tokenizer = ClipBpeTrainer.Train(pairs.GetColumn<string>("Caption"), new ClipBpeTrainerOptions { VocabularySize = 600 });
        var architecture = new ClipConfig
        {
            EmbedDim = 32,
            Vision = new VisionConfig { ImageSize = 32, Layers = 1, Width = 64, HeadWidth = 32, PatchSize = 8 },
            Text = new TextConfig { ContextLength = 16, VocabSize = tokenizer.VocabularySize, Width = 64, Heads = 2, Layers = 1 },
        };
        var clip = mlContext.Transforms.ClipPretrain(architecture, tokenizer, epochs: 2, batchSize: 16).Fit(pairs);
        Console.WriteLine($"pretrained {clip.TrainingReport!.Steps} steps");
        var retrieval = mlContext.EvaluateRetrieval(clip.Transform(pairs));
        Console.WriteLine($"retrieval on the training pairs: image→text R@1 {retrieval.ImageToText.RecallAt1:P1}, text→image R@1 {retrieval.TextToImage.RecallAt1:P1}");

        var model = clip.Append(mlContext.Transforms.ClipZeroShot(clip.Bundle, Classes).Fit(pairs));
        mlContext.Model.Save(model, pairs.Schema, zipPath);
        File.WriteAllLines(scoresPath, Scores(model.Transform(pairs)));
        Console.WriteLine($"saved {zipPath} and the scores of {pairs.GetColumn<string>("Caption").Count()} pairs");
        Generators.CompareWithPipeline(clip.Bundle, model.Transform(pairs), Path.ChangeExtension(zipPath, ".onnx-export"));
    }

    public static bool ScoreAndCompare(string folder, string zipPath, string scoresPath)
    {
        var mlContext = new MLContext(seed: 1);
        var model = mlContext.Model.Load(zipPath, out _);
        var pairs = mlContext.Data.LoadFromImageManifest(Path.Combine(folder, "pairs.csv"));
        var actual = Scores(model.Transform(pairs)).ToArray();
        var expected = File.ReadAllLines(scoresPath);
        if (actual.Length != expected.Length)
        {
            Console.Error.WriteLine($"{zipPath}: {actual.Length} score lines, the saving process wrote {expected.Length}");
            return false;
        }
        for (int i = 0; i < actual.Length; i++)
        {
            if (actual[i] != expected[i])
            {
                Console.Error.WriteLine($"{zipPath}: line {i + 1} differs from the saving process's scores:\n  saved:    {expected[i]}\n  reloaded: {actual[i]}");
                return false;
            }
        }
        Console.WriteLine($"{zipPath}: {actual.Length} score lines identical to the saving process's");
        return true;
    }

    /// <summary>Every score of every row, one line per row and column, floats written exactly (round-trip format).</summary>
    private static IEnumerable<string> Scores(IDataView scored)
    {
        foreach (var column in new[] { "ImageEmbedding", "TextEmbedding", "Score" })
        {
            int row = 0;
            foreach (var values in scored.GetColumn<float[]>(column))
                yield return $"{column} {row++}: " + string.Join(' ', values.Select(v => v.ToString("R", CultureInfo.InvariantCulture)));
        }
    }
}

/// <summary>The embedding generators of Microsoft.ML.Clip.Extensions.AI and Microsoft.ML.Clip.OnnxRuntime against the pipeline.</summary>
static class Generators
{
    public static void CompareWithPipeline(ClipModelBundle bundle, IDataView scored, string exportFolder)
    {
        var captions = scored.GetColumn<string>("Caption").ToList();
        // Path is the full path of the image file.
        var images = scored.GetColumn<string>("Path").Select(path => new DataContent(File.ReadAllBytes(path), "image/png")).ToList();
        var imageEmbeddings = scored.GetColumn<float[]>("ImageEmbedding").ToList();
        var textEmbeddings = scored.GetColumn<float[]>("TextEmbedding").ToList();
        bundle.ExportOnnx(exportFolder);
        // Tolerances: the TorchSharp generators run the stage's computation in other batch sizes (fp32 sums split
        // differently: ~1e-7 here); ONNX Runtime runs other kernels on the same fp32 weights (~1e-6 seen in the tests).
        using (var text = bundle.AsTextEmbeddingGenerator())
        using (var image = bundle.AsImageEmbeddingGenerator())
        {
            Compare("TorchSharp text generator", text.GenerateAsync(captions).GetAwaiter().GetResult(), textEmbeddings, 1e-5);
            Compare("TorchSharp image generator", image.GenerateAsync(images).GetAwaiter().GetResult(), imageEmbeddings, 1e-5);
        }
        using (var text = new ClipOnnxTextEmbeddingGenerator(exportFolder))
        using (var image = new ClipOnnxImageEmbeddingGenerator(exportFolder))
        {
            Compare("ONNX Runtime text generator", text.GenerateAsync(captions).GetAwaiter().GetResult(), textEmbeddings, 1e-4);
            Compare("ONNX Runtime image generator", image.GenerateAsync(images).GetAwaiter().GetResult(), imageEmbeddings, 1e-4);
        }
    }

    private static void Compare(string what, GeneratedEmbeddings<Embedding<float>> actual, List<float[]> expected, double tolerance)
    {
        if (actual.Count != expected.Count) throw new InvalidOperationException($"{what}: {actual.Count} embeddings for {expected.Count} inputs");
        double worst = 0;
        for (int i = 0; i < expected.Count; i++)
        {
            var a = actual[i].Vector.Span;
            for (int j = 0; j < expected[i].Length; j++)
            {
                double excess = Math.Abs(a[j] - expected[i][j]) - tolerance * (1 + Math.Abs(expected[i][j]));
                if (excess > 0) throw new InvalidOperationException($"{what}: input {i}, element {j}: {a[j]} against the pipeline's {expected[i][j]}");
                worst = Math.Max(worst, Math.Abs(a[j] - expected[i][j]));
            }
        }
        Console.WriteLine($"{what}: {actual.Count} embeddings agree with the pipeline's (max |Δ| {worst:E1})");
    }
}

/// <summary>Coloured shapes on white, drawn with SkiaSharp (the one the application resolved), with their captions.</summary>
static class Pairs
{
    private static readonly (string Name, SKColor Color)[] Colours =
        [("red", new SKColor(220, 30, 30)), ("green", new SKColor(30, 170, 60)), ("blue", new SKColor(40, 60, 220)), ("yellow", new SKColor(230, 200, 20))];
    private static readonly string[] Shapes = ["circle", "square", "triangle"];
    private const int Size = 32;

    public static void Write(string folder)
    {
        Directory.CreateDirectory(Path.Combine(folder, "images"));
        var random = new Random(7);
        var lines = new List<string> { "path,caption" };
        for (int i = 0; i < 48; i++)
        {
            int shape = i % Shapes.Length;
            var (colourName, colour) = Colours[i / Shapes.Length % Colours.Length];
            float x = random.Next(10, Size - 10), y = random.Next(10, Size - 10), r = random.Next(5, 9);
            string file = $"images/{i:D3}.png";
            File.WriteAllBytes(Path.Combine(folder, file), Draw(shape, colour, x, y, r));
            lines.Add($"{file},a {colourName} {Shapes[shape]}");
        }
        File.WriteAllLines(Path.Combine(folder, "pairs.csv"), lines);
        Console.WriteLine($"wrote {lines.Count - 1} pairs to {folder}");
    }

    private static byte[] Draw(int shape, SKColor colour, float x, float y, float r)
    {
        using var surface = SKSurface.Create(new SKImageInfo(Size, Size, SKColorType.Rgba8888, SKAlphaType.Premul));
        var canvas = surface.Canvas;
        canvas.Clear(SKColors.White);
        using var paint = new SKPaint { Color = colour, IsAntialias = false, Style = SKPaintStyle.Fill };
        switch (shape)
        {
            case 0:
                canvas.DrawCircle(x, y, r, paint);
                break;
            case 1:
                canvas.DrawRect(x - r, y - r, 2 * r, 2 * r, paint);
                break;
            default:
                using (var path = new SKPath())
                {
                    path.MoveTo(x, y - r);
                    path.LineTo(x + r, y + r);
                    path.LineTo(x - r, y + r);
                    path.Close();
                    canvas.DrawPath(path, paint);
                }
                break;
        }
        using var image = surface.Snapshot();
        using var png = image.Encode(SKEncodedImageFormat.Png, 100);
        return png.ToArray();
    }
}
