using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using Microsoft.ML.Clip.Imaging;
using Microsoft.ML.Clip.Onnx;
using Microsoft.ML.Clip.Tokenization;
using static TorchSharp.torch;

namespace Microsoft.ML.Clip.Modeling;

/// <summary>
/// Writes a model's image and text encoders as standalone ONNX models (opset 17) and whole export folders (both
/// encoders, the tokenizer's files and <see cref="ClipOnnxManifest"/>). The graph building it uses
/// (<see cref="OnnxGraph"/>, <see cref="OnnxModelBuilder"/>) lies below the model code; the towers emit into it.
/// </summary>
internal static class ClipOnnxExporter
{
    public const int Opset = 17;

    /// <summary>The image encoder: <c>pixel_values</c> float32 [N, 3, S, S] → <c>image_embeds</c> float32 [N, D].</summary>
    public static OnnxModelBuilder ImageEncoder(ClipModel model, ClipOnnxExportOptions options, IEnumerable<(string, string)>? metadata = null)
    {
        var builder = new OnnxModelBuilder("clip_image_encoder", Opset);
        int size = model.Config.Vision.ImageSize;
        var pixels = builder.AddInput("pixel_values", OnnxElementType.Float, [null, 3, size, size]);
        var graph = new OnnxGraph(builder, options.Precision == ClipOnnxPrecision.Float16);
        string embeds;
        using (NewDisposeScope()) embeds = model.EmitImageEncoder(graph, pixels, options.NormalizeEmbeddings);
        builder.AddOutput("image_embeds", embeds, OnnxElementType.Float, [null, model.Config.EmbedDim]);
        AddMetadata(builder, metadata);
        return builder;
    }

    /// <summary>The text encoder: <c>input_ids</c> int64 [N, context] → <c>text_embeds</c> float32 [N, D].</summary>
    public static OnnxModelBuilder TextEncoder(ClipModel model, ClipOnnxExportOptions options, IEnumerable<(string, string)>? metadata = null)
    {
        var builder = new OnnxModelBuilder("clip_text_encoder", Opset);
        int context = model.Config.Text.ContextLength;
        var ids = builder.AddInput("input_ids", OnnxElementType.Int64, [null, context]);
        var graph = new OnnxGraph(builder, options.Precision == ClipOnnxPrecision.Float16);
        string embeds;
        using (NewDisposeScope()) embeds = model.EmitTextEncoder(graph, ids, context, options.NormalizeEmbeddings);
        builder.AddOutput("text_embeds", embeds, OnnxElementType.Float, [null, model.Config.EmbedDim]);
        AddMetadata(builder, metadata);
        return builder;
    }

    /// <summary>
    /// Writes the export folder. Everything is written into a temporary folder beside <paramref name="directory"/>
    /// first; on success that folder is renamed to <paramref name="directory"/> (or, when it exists, its files are
    /// moved in one at a time, each by an atomic rename, the manifest last). On failure the temporary folder is
    /// deleted and <paramref name="directory"/> is left as it was.
    /// </summary>
    public static ClipOnnxManifest ExportFolder(string directory, ClipModel model, ClipTextTokenizer tokenizer, ImagePreprocessingOptions preprocessing,
        string scoring, ClipOnnxExportOptions options)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(directory);
        string target = Path.GetFullPath(directory);
        string staging = CreateStaging(target);
        try
        {
            var manifest = WriteFiles(staging, model, tokenizer, preprocessing, scoring, options);
            Publish(staging, target);
            return manifest;
        }
        catch
        {
            try { Directory.Delete(staging, recursive: true); } catch (IOException) { }
            throw;
        }
    }

    private static ClipOnnxManifest WriteFiles(string staging, ClipModel model, ClipTextTokenizer tokenizer, ImagePreprocessingOptions preprocessing,
        string scoring, ClipOnnxExportOptions options)
    {
        var tokenizerFiles = tokenizer.SaveFiles();
        string[] tokenizerFileNames = tokenizerFiles.Select(f => f.Name).ToArray();
        var draft = Describe(model, tokenizer, tokenizerFileNames, preprocessing, scoring, options);
        var metadata = Metadata(draft).ToList();
        string producer = typeof(ClipOnnxExporter).Assembly.GetName().Version?.ToString() ?? "0";
        WriteModel(Path.Combine(staging, draft.ImageEncoder), ImageEncoder(model, options, metadata), producer);
        WriteModel(Path.Combine(staging, draft.TextEncoder), TextEncoder(model, options, metadata), producer);
        foreach (var (name, content) in tokenizerFiles)
            File.WriteAllBytes(Path.Combine(staging, name), content);
        var hashes = draft.FileNames()
            .ToDictionary(name => name, name => ClipOnnxManifest.HashFile(Path.Combine(staging, name)));
        var manifest = Describe(model, tokenizer, tokenizerFileNames, preprocessing, scoring, options, hashes);
        File.WriteAllText(Path.Combine(staging, ClipOnnxManifest.FileName), manifest.ToJson());
        return manifest;
    }

    private static void WriteModel(string path, OnnxModelBuilder builder, string producer)
    {
        using var stream = new FileStream(path, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 20);
        builder.WriteTo(stream, producer);
        stream.Flush(flushToDisk: true);
    }

    private static ClipOnnxManifest Describe(ClipModel model, ClipTextTokenizer tokenizer, string[] files, ImagePreprocessingOptions preprocessing,
        string scoring, ClipOnnxExportOptions options, IReadOnlyDictionary<string, string>? hashes = null)
    {
        return new()
        {
            ImageSize = preprocessing.ImageSize,
            Mean = preprocessing.Mean.ToArray(),
            Std = preprocessing.Std.ToArray(),
            ResizeMode = preprocessing.ResizeMode.ToString(),
            Interpolation = ClipOnnxManifest.InterpolationName(preprocessing.Interpolation),
            ContextLength = model.Config.Text.ContextLength,
            VocabularySize = model.Config.Text.VocabSize,
            Tokenizer = tokenizer.Kind,
            TextCleaning = tokenizer.Cleaning,
            TokenizerFiles = files,
            // Named again in the fields that manifests had before tokenizer kinds, which older readers look for.
            Vocabulary = files.FirstOrDefault(n => n == ClipTokenizer.VocabFile),
            Merges = files.FirstOrDefault(n => n == ClipTokenizer.MergesFile),
            StartOfTextId = tokenizer.StartOfTextId,
            EndOfTextId = tokenizer.EndOfTextId,
            PadId = tokenizer.PadId,
            EmbeddingSize = model.Config.EmbedDim,
            Normalized = options.NormalizeEmbeddings,
            Precision = options.Precision == ClipOnnxPrecision.Float16 ? "float16" : "float32",
            Opset = Opset,
            Scoring = scoring,
            LogitScale = Math.Exp(model.LogitScale.detach().to(ScalarType.Float64).item<double>()),
            LogitBias = model.LogitBias?.detach().to(ScalarType.Float64).item<double>(),
            Sha256 = hashes ?? new Dictionary<string, string>(),
        };
    }

    /// <summary>The manifest's deployment facts as <c>metadata_props</c> of each encoder (<c>clip.*</c> keys).</summary>
    private static IEnumerable<(string, string)> Metadata(ClipOnnxManifest m)
    {
        var c = CultureInfo.InvariantCulture;
        yield return ("clip.embedding_size", m.EmbeddingSize.ToString(c));
        yield return ("clip.normalized", m.Normalized ? "true" : "false");
        yield return ("clip.precision", m.Precision);
        yield return ("clip.image_size", m.ImageSize.ToString(c));
        yield return ("clip.mean", string.Join(",", m.Mean.Select(v => v.ToString("R", c))));
        yield return ("clip.std", string.Join(",", m.Std.Select(v => v.ToString("R", c))));
        yield return ("clip.resize_mode", m.ResizeMode);
        yield return ("clip.interpolation", m.Interpolation);
        yield return ("clip.context_length", m.ContextLength.ToString(c));
        yield return ("clip.scoring", m.Scoring);
        yield return ("clip.logit_scale", m.LogitScale.ToString("R", c));
        if (m.LogitBias is double bias) yield return ("clip.logit_bias", bias.ToString("R", c));
    }

    private static void AddMetadata(OnnxModelBuilder builder, IEnumerable<(string Key, string Value)>? metadata)
    {
        foreach (var (key, value) in metadata ?? []) builder.AddMetadata(key, value);
    }

    private static string CreateStaging(string target)
    {
        string parent = Path.GetDirectoryName(target) ?? throw new ArgumentException($"'{target}' has no parent folder to export into.");
        string staging = Path.Combine(parent, $".{Path.GetFileName(target)}.{Guid.NewGuid():N}.tmp");
        try
        {
            Directory.CreateDirectory(staging);
            return staging;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new IOException($"Cannot write the ONNX export to '{target}': the folder '{parent}' cannot be written ({ex.Message}).", ex);
        }
    }

    private static void Publish(string staging, string target)
    {
        if (File.Exists(target))
            throw new IOException($"Cannot write the ONNX export to '{target}': a file of that name exists.");
        if (!Directory.Exists(target))
        {
            Directory.Move(staging, target);
            return;
        }
        var files = Directory.GetFiles(staging).Select(Path.GetFileName).OrderBy(name => name == ClipOnnxManifest.FileName).ToList();
        foreach (var name in files)
            File.Move(Path.Combine(staging, name!), Path.Combine(target, name!), overwrite: true);
        Directory.Delete(staging);
    }
}
