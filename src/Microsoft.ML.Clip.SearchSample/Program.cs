using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Threading.Tasks;
using Microsoft.Extensions.AI;
using Microsoft.ML.Clip.OnnxRuntime;

namespace Microsoft.ML.Clip.SearchSample;

/// <summary>
/// Image search over a folder with an exported CLIP on ONNX Runtime, through the Microsoft.Extensions.AI generators:
/// <code>
/// dotnet run --project src/Microsoft.ML.Clip.SearchSample -c Release -- [--model DIR] [--images DIR]
///     [--query TEXT]... [--image FILE]... [--top K]
/// </code>
/// The first run embeds every image and writes the index beside the model (&lt;model&gt;/search-index/); later runs embed
/// only new or changed files and drop deleted ones. The defaults read what the main sample writes (its ONNX export and
/// its 600 test images).
/// </summary>
public static class Program
{
    public static async Task<int> Main(string[] args)
    {
        var (options, queries, imageQueries) = Arguments(args);
        string shapes = Path.Combine("artifacts", "samples", "shapes");
        string model = options.GetValueOrDefault("model", Path.Combine(shapes, "onnx"));
        string images = options.GetValueOrDefault("images", Path.Combine(shapes, "test-images"));
        int top = int.Parse(options.GetValueOrDefault("top", "5"), System.Globalization.CultureInfo.InvariantCulture);
        foreach (var (what, path) in new[] { ("export folder (--model)", model), ("image folder (--images)", images) })
            if (!Directory.Exists(path))
            {
                Console.Error.WriteLine($"No {what} at '{path}'. Run the main sample first (dotnet run --project src/Microsoft.ML.Clip.Samples -c Release), or name one.");
                return 2;
            }
        if (queries.Count == 0 && imageQueries.Count == 0) queries.Add("a small red circle on the left");

        using var imageGenerator = new ClipOnnxImageEmbeddingGenerator(model);
        using var textGenerator = new ClipOnnxTextEmbeddingGenerator(model);
        var clock = Stopwatch.StartNew();
        var index = ImageSearchIndex.Open(images, ImageSearchIndex.DefaultIndexFile(model, images), imageGenerator);
        if (index.DiscardedBecause is { } reason) Console.WriteLine($"The saved index was not used: {reason}; re-embedding.");
        var refresh = await index.RefreshAsync();
        Console.WriteLine($"Index of '{images}': {index.Count} images; {refresh.Added} embedded, {refresh.Changed} re-embedded (changed), " +
            $"{refresh.Removed} dropped (deleted), {refresh.Kept} kept from '{index.IndexFile}' ({clock.Elapsed.TotalSeconds:F1} s).");
        foreach (var path in refresh.Refused) Console.WriteLine($"  not indexed (not a readable image): {path}");

        var queryVectors = new List<ReadOnlyMemory<float>>();
        var labels = new List<string>();
        if (queries.Count > 0)
        {
            queryVectors.AddRange((await textGenerator.GenerateAsync(queries)).Select(e => e.Vector));
            labels.AddRange(queries.Select(q => $"text \"{q}\""));
        }
        if (imageQueries.Count > 0)
        {
            var contents = new List<DataContent>();
            foreach (var file in imageQueries) contents.Add(await DataContent.LoadFromAsync(file));
            queryVectors.AddRange((await imageGenerator.GenerateAsync(contents)).Select(e => e.Vector));
            labels.AddRange(imageQueries.Select(f => $"image '{f}'"));
        }
        var results = index.Search(queryVectors, top);
        for (int q = 0; q < labels.Count; q++)
        {
            Console.WriteLine($"Top {top} for {labels[q]}:");
            foreach (var hit in results[q]) Console.WriteLine($"  {hit.Score:F3}  {hit.Path}");
        }
        return 0;
    }

    private static (Dictionary<string, string> Options, List<string> Queries, List<string> ImageQueries) Arguments(string[] args)
    {
        var options = new Dictionary<string, string>();
        List<string> queries = [], imageQueries = [];
        for (int i = 0; i + 1 < args.Length; i += 2)
        {
            if (!args[i].StartsWith("--", StringComparison.Ordinal)) throw new ArgumentException($"Expected --name value pairs; got '{args[i]}'.");
            switch (args[i][2..])
            {
                case "query": queries.Add(args[i + 1]); break;
                case "image": imageQueries.Add(args[i + 1]); break;
                case var name: options[name] = args[i + 1]; break;
            }
        }
        return (options, queries, imageQueries);
    }
}
