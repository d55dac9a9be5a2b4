using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Linq;

namespace Microsoft.ML.Clip.OnnxSample;

/// <summary>
/// Zero-shot classification and text→image search over a folder of images with an exported CLIP, on ONNX Runtime alone.
/// <code>
/// dotnet run --project src/Microsoft.ML.Clip.OnnxSample -c Release -- [--model DIR] [--images DIR] [--classes FILE]
///     [--templates FILE] [--labels FILE.csv] [--query TEXT]
/// </code>
/// The defaults read what the main sample (shapes) writes: its export in artifacts/samples/shapes/onnx, its class
/// names and prompt templates, and 600 new test images with their labels.
/// </summary>
public static class Program
{
    public static int Main(string[] args)
    {
        var a = Arguments(args);
        string shapes = Path.Combine("artifacts", "samples", "shapes");
        string model = a.GetValueOrDefault("model", Path.Combine(shapes, "onnx"));
        string images = a.GetValueOrDefault("images", Path.Combine(shapes, "test-images"));
        string classesFile = a.GetValueOrDefault("classes", Path.Combine(shapes, "classes.txt"));
        string templatesFile = a.GetValueOrDefault("templates", Path.Combine(shapes, "templates.txt"));
        string labelsFile = a.GetValueOrDefault("labels", Path.Combine(images, "manifest.csv"));
        string query = a.GetValueOrDefault("query", "a small red circle on the left");
        foreach (var (what, path) in new[] { ("export folder (--model)", model), ("image folder (--images)", images) })
            if (!Directory.Exists(path))
            {
                Console.Error.WriteLine($"No {what} at '{path}'. Run the main sample first (dotnet run --project src/Microsoft.ML.Clip.Samples -c Release), or name one.");
                return 2;
            }

        var clock = Stopwatch.StartNew();
        using var clip = new ClipOnnxModel(model);
        var files = Directory.EnumerateFiles(images, "*.*", SearchOption.AllDirectories)
            .Where(f => f.EndsWith(".png", StringComparison.OrdinalIgnoreCase) || f.EndsWith(".jpg", StringComparison.OrdinalIgnoreCase)
                || f.EndsWith(".jpeg", StringComparison.OrdinalIgnoreCase))
            .Order(StringComparer.Ordinal).ToList();
        var imageEmbeddings = files.Chunk(64).SelectMany(chunk => clip.EmbedImages(chunk)).ToArray();
        Console.WriteLine($"Embedded {files.Count} images from '{images}' in {clock.Elapsed.TotalSeconds:F1} s ({clip.Manifest.Precision}, {clip.Manifest.ImageSize} px).");

        var classes = File.ReadAllLines(classesFile).Where(l => l.Length > 0).ToArray();
        var templates = File.Exists(templatesFile) ? File.ReadAllLines(templatesFile).Where(l => l.Length > 0).ToArray() : ["a photo of a {}."];
        var classEmbeddings = classes.Select(c => Mean(clip.EmbedTexts(templates.Select(t => t.Replace("{}", c)).ToArray()))).ToArray();
        var predicted = imageEmbeddings.Select(e => ArgMax(classEmbeddings.Select(c => ClipOnnxModel.Dot(e, c)).ToArray())).ToArray();
        ReportZeroShot(files, predicted.Select(p => classes[p]).ToArray(), images, labelsFile);

        var queryEmbedding = clip.EmbedTexts([query])[0];
        Console.WriteLine($"Text→image search for \"{query}\":");
        foreach (var (file, score) in files.Zip(imageEmbeddings, (f, e) => (f, ClipOnnxModel.Dot(e, queryEmbedding))).OrderByDescending(p => p.Item2).Take(5))
            Console.WriteLine($"  {score:F3}  {Path.GetRelativePath(images, file)}");
        Console.WriteLine($"Total {clock.Elapsed.TotalSeconds:F1} s.");
        return 0;
    }

    private static void ReportZeroShot(List<string> files, string[] predicted, string images, string labelsFile)
    {
        for (int i = 0; i < Math.Min(5, files.Count); i++)
            Console.WriteLine($"  {Path.GetRelativePath(images, files[i])}: {predicted[i]}");
        if (!File.Exists(labelsFile)) return;
        var labels = ReadLabels(labelsFile);
        var known = files.Select((f, i) => (Label: labels.GetValueOrDefault(Path.GetRelativePath(images, f).Replace('\\', '/')), Predicted: predicted[i]))
            .Where(p => p.Label is not null).ToList();
        Console.WriteLine($"Zero-shot accuracy against '{labelsFile}': {known.Count(p => p.Label == p.Predicted) / (double)known.Count:P1} ({known.Count} labelled images).");
    }

    /// <summary>path → label from a CSV with a header naming <c>path</c> and <c>label</c> (fields may be quoted).</summary>
    private static Dictionary<string, string> ReadLabels(string csv)
    {
        var lines = File.ReadAllLines(csv);
        var header = Fields(lines[0]);
        int path = Array.IndexOf(header, "path"), label = Array.IndexOf(header, "label");
        if (path < 0 || label < 0) throw new InvalidDataException($"'{csv}' needs 'path' and 'label' columns; its header is '{lines[0]}'.");
        return lines.Skip(1).Where(l => l.Length > 0).Select(Fields).ToDictionary(f => f[path], f => f[label]);
    }

    private static string[] Fields(string line)
    {
        var fields = new List<string>();
        var field = new System.Text.StringBuilder();
        bool quoted = false;
        for (int i = 0; i < line.Length; i++)
        {
            char c = line[i];
            if (quoted && c == '"' && i + 1 < line.Length && line[i + 1] == '"') { field.Append('"'); i++; }
            else if (c == '"') quoted = !quoted;
            else if (c == ',' && !quoted) { fields.Add(field.ToString()); field.Clear(); }
            else field.Append(c);
        }
        fields.Add(field.ToString());
        return fields.ToArray();
    }

    private static float[] Mean(float[][] vectors)
    {
        var mean = new float[vectors[0].Length];
        foreach (var v in vectors) for (int i = 0; i < mean.Length; i++) mean[i] += v[i] / vectors.Length;
        float norm = MathF.Sqrt(mean.Sum(x => x * x));
        return mean.Select(x => x / norm).ToArray();
    }

    private static int ArgMax(float[] values) => Array.IndexOf(values, values.Max());

    private static Dictionary<string, string> Arguments(string[] args)
    {
        var result = new Dictionary<string, string>();
        for (int i = 0; i + 1 < args.Length; i += 2)
        {
            if (!args[i].StartsWith("--", StringComparison.Ordinal)) throw new ArgumentException($"Expected --name value pairs; got '{args[i]}'.");
            result[args[i][2..]] = args[i + 1];
        }
        return result;
    }
}
