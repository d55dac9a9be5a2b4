using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.ML.Clip.Imaging;
using Microsoft.ML.Clip.Tokenization;

namespace Microsoft.ML.Clip.Onnx;

/// <summary>
/// The description of an ONNX export folder, <c>clip-onnx.json</c>: which file holds which encoder, the names of
/// their inputs and outputs, and everything a deployment needs to feed them and compare their outputs (image size,
/// normalisation, resize mode, context length, tokenizer files and special ids, embedding size, whether embeddings are
/// normalised, precision, logit scale and bias), with the SHA-256 of every file so that a damaged copy is found
/// before ONNX Runtime reads it. Plain data and System.Text.Json only: a deployment reads it without TorchSharp.
/// </summary>
public sealed class ClipOnnxManifest
{
    /// <summary>The manifest's file name inside an export folder.</summary>
    public const string FileName = "clip-onnx.json";

    /// <summary>The format version this library writes and reads.</summary>
    public const int CurrentFormatVersion = 1;

    private static readonly JsonSerializerOptions _json = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    };

    /// <summary>Version of this format (<see cref="CurrentFormatVersion"/>).</summary>
    public int FormatVersion { get; init; } = CurrentFormatVersion;

    /// <summary>The image encoder's file: input <see cref="ImageInput"/> float32 [N, 3, S, S] (preprocessed pixels) → <see cref="ImageOutput"/> float32 [N, D].</summary>
    public string ImageEncoder { get; init; } = "image_encoder.onnx";

    /// <summary>The text encoder's file: input <see cref="TextInput"/> int64 [N, context] (token ids, padded with <see cref="PadId"/>) → <see cref="TextOutput"/> float32 [N, D].</summary>
    public string TextEncoder { get; init; } = "text_encoder.onnx";

    /// <summary>Name of the image encoder's input.</summary>
    public string ImageInput { get; init; } = "pixel_values";

    /// <summary>Name of the image encoder's output.</summary>
    public string ImageOutput { get; init; } = "image_embeds";

    /// <summary>Name of the text encoder's input.</summary>
    public string TextInput { get; init; } = "input_ids";

    /// <summary>Name of the text encoder's output.</summary>
    public string TextOutput { get; init; } = "text_embeds";

    /// <summary>
    /// The tokenizer's kind (<c>ClipTextTokenizer.Kind</c>): <c>clip-bpe</c> (CLIP's byte-level BPE, the only kind of
    /// manifests written before this field, which therefore read as it) or <c>sentencepiece</c> (SigLIP).
    /// </summary>
    public string Tokenizer { get; init; } = ClipTokenizer.KindName;

    /// <summary>The caption cleaning the tokenizer applies (open_clip's <c>lower</c>, <c>whitespace</c> or <c>canonicalize</c>).</summary>
    [JsonConverter(typeof(JsonStringEnumConverter<ClipTextCleaning>))]
    public ClipTextCleaning TextCleaning { get; init; } = ClipTextCleaning.Lower;

    /// <summary>
    /// The tokenizer's files in the folder: <c>vocab.json</c> and <c>merges.txt</c> (CLIP's BPE, Hugging Face layout) or
    /// <c>sentencepiece.model</c> (a SentencePiece model). Null in manifests written before this field: then
    /// <see cref="Vocabulary"/> and <see cref="Merges"/>.
    /// </summary>
    public IReadOnlyList<string>? TokenizerFiles { get; init; }

    /// <summary>CLIP's BPE vocabulary (Hugging Face <c>vocab.json</c> layout); null for other tokenizers.</summary>
    public string? Vocabulary { get; init; }

    /// <summary>CLIP's BPE merges (Hugging Face <c>merges.txt</c> layout); null for other tokenizers.</summary>
    public string? Merges { get; init; }

    /// <summary>Side of the square input in pixels.</summary>
    public int ImageSize { get; init; }

    /// <summary>Per-channel (R, G, B) mean subtracted from pixel values in [0, 1].</summary>
    public IReadOnlyList<float> Mean { get; init; } = [];

    /// <summary>Per-channel (R, G, B) standard deviation the centred values are divided by.</summary>
    public IReadOnlyList<float> Std { get; init; } = [];

    /// <summary>How an image becomes a square: <c>ShortestSideCenterCrop</c>, <c>Squash</c>, ... (the library's <c>ClipResizeMode</c> names).</summary>
    public string ResizeMode { get; init; } = "";

    /// <summary>The resampling filter of the resize: PIL's antialiased bicubic (<c>bicubic-antialiased</c>, as open_clip by
    /// default) or bilinear (<c>bilinear-antialiased</c>).</summary>
    public string Interpolation { get; init; } = InterpolationName(ClipInterpolation.Bicubic);

    /// <summary>The manifest's name of an interpolation (<see cref="Interpolation"/>).</summary>
    public static string InterpolationName(ClipInterpolation interpolation) => $"{interpolation.ToString().ToLowerInvariant()}-antialiased";

    /// <summary>Token ids per caption (the text encoder's second dimension); shorter captions are padded with <see cref="PadId"/>.</summary>
    public int ContextLength { get; init; }

    /// <summary>Number of token ids the text encoder accepts (0 … VocabularySize − 1).</summary>
    public int VocabularySize { get; init; }

    /// <summary>The start-of-text token id the tokenizer puts first; null when rows start with the caption (SigLIP).</summary>
    public int? StartOfTextId { get; init; }

    /// <summary>The end-of-text token id that follows the caption (CLIP's is the largest id, where its text encoder pools).</summary>
    public int EndOfTextId { get; init; }

    /// <summary>The id that fills a row after the end token (0 for CLIP, and in manifests written before this field).</summary>
    public int PadId { get; init; }

    /// <summary>Floats per embedding (D).</summary>
    public int EmbeddingSize { get; init; }

    /// <summary>True when both encoders return L2-normalised embeddings (compare them by dot product).</summary>
    public bool Normalized { get; init; }

    /// <summary><c>float32</c> or <c>float16</c> (weights and arithmetic; inputs and outputs are float32 either way).</summary>
    public string Precision { get; init; } = "float32";

    /// <summary>The ONNX opset of both encoders.</summary>
    public int Opset { get; init; }

    /// <summary>How the model's training compares images with texts: <c>global-cosine</c> (softmax over classes) or <c>sigmoid-with-bias</c> (SigLIP).</summary>
    public string Scoring { get; init; } = "global-cosine";

    /// <summary>The multiplier of cosine similarities, exp(logit_scale).</summary>
    public double LogitScale { get; init; }

    /// <summary>SigLIP's logit bias added after scaling; null for other models.</summary>
    public double? LogitBias { get; init; }

    /// <summary>SHA-256 (lower-case hex) of every file of the export, by file name.</summary>
    public IReadOnlyDictionary<string, string> Sha256 { get; init; } = new Dictionary<string, string>();

    /// <summary>The manifest as indented JSON (snake_case names).</summary>
    public string ToJson() => JsonSerializer.Serialize(this, _json);

    /// <summary>Reads a manifest from its JSON text.</summary>
    /// <exception cref="InvalidDataException">The text is not a manifest of a version this library reads.</exception>
    public static ClipOnnxManifest FromJson(string json, string source = FileName)
    {
        ClipOnnxManifest? manifest;
        try { manifest = JsonSerializer.Deserialize<ClipOnnxManifest>(json, _json); }
        catch (JsonException ex) { throw new InvalidDataException($"'{source}' is not a valid CLIP ONNX manifest: {ex.Message}", ex); }
        if (manifest is null || manifest.FormatVersion != CurrentFormatVersion)
            throw new InvalidDataException($"'{source}' has format version {manifest?.FormatVersion}; this library reads version {CurrentFormatVersion}.");
        return manifest;
    }

    /// <summary>
    /// Reads <c>clip-onnx.json</c> from an export folder and, with <paramref name="verifyFiles"/>, checks that every
    /// file it lists is there with its recorded SHA-256.
    /// </summary>
    /// <exception cref="FileNotFoundException">The manifest or a listed file is missing.</exception>
    /// <exception cref="InvalidDataException">The manifest is unreadable, or a file's content differs from the export (damaged or replaced).</exception>
    public static ClipOnnxManifest Load(string directory, bool verifyFiles = true)
    {
        string path = Path.Combine(directory, FileName);
        if (!File.Exists(path))
            throw new FileNotFoundException($"'{directory}' is not a CLIP ONNX export: it has no {FileName}.", path);
        var manifest = FromJson(File.ReadAllText(path), path);
        if (verifyFiles) manifest.Verify(directory);
        return manifest;
    }

    /// <summary>Checks every listed file of the export in <paramref name="directory"/> against its SHA-256.</summary>
    public void Verify(string directory)
    {
        foreach (var name in FileNames())
            if (!Sha256.ContainsKey(name))
                throw new InvalidDataException($"The manifest in '{directory}' records no SHA-256 for '{name}'.");
        foreach (var (name, expected) in Sha256)
        {
            string file = Path.Combine(directory, name);
            if (!File.Exists(file))
                throw new FileNotFoundException($"The CLIP ONNX export in '{directory}' lacks '{name}', which its manifest lists.", file);
            string actual = HashFile(file);
            if (!string.Equals(actual, expected, StringComparison.OrdinalIgnoreCase))
                throw new InvalidDataException($"'{file}' is damaged or was replaced: its SHA-256 is {actual}, the manifest records {expected}.");
        }
    }

    /// <summary>The files of the export: both encoders and the tokenizer's files.</summary>
    public IReadOnlyList<string> FileNames() => [ImageEncoder, TextEncoder, .. TokenizerFileNames()];

    /// <summary>The tokenizer the text encoder was exported with, read from the export in <paramref name="directory"/>.</summary>
    /// <exception cref="InvalidDataException">The manifest's tokenizer kind is unknown, or its files disagree with the manifest.</exception>
    public ClipTextTokenizer CreateTokenizer(string directory)
    {
        // Manifests written before tokenizer kinds read as CLIP's BPE through the defaults of these fields.
        var settings = new TokenizerSettings(Tokenizer, TextCleaning, StartOfTextId, EndOfTextId, PadId);
        return ClipTextTokenizer.Load(settings, name => File.ReadAllBytes(Path.Combine(directory, FileNameOf(name))), directory + Path.DirectorySeparatorChar);
    }

    private IReadOnlyList<string> TokenizerFileNames() =>
        TokenizerFiles ?? new[] { Vocabulary, Merges }.OfType<string>().ToArray();

    /// <summary>Where the tokenizer file of a standard name is: the BPE files where <see cref="Vocabulary"/> and <see cref="Merges"/> say.</summary>
    private string FileNameOf(string name) => name switch
    {
        ClipTokenizer.VocabFile => Vocabulary ?? name,
        ClipTokenizer.MergesFile => Merges ?? name,
        _ => name,
    };

    /// <summary>The image preprocessing the image encoder expects (size, normalization, resize mode, interpolation).</summary>
    /// <exception cref="InvalidDataException">The manifest names a resize mode or interpolation this library does not know.</exception>
    public ImagePreprocessingOptions CreatePreprocessingOptions()
    {
        if (!Enum.TryParse<ClipResizeMode>(ResizeMode, out var mode) || !Enum.IsDefined(mode))
            throw new InvalidDataException($"The manifest's resize mode '{ResizeMode}' is unknown; expected one of {string.Join(", ", Enum.GetNames<ClipResizeMode>())}.");
        var interpolations = Enum.GetValues<ClipInterpolation>();
        if (!interpolations.Any(i => InterpolationName(i) == Interpolation))
            throw new InvalidDataException($"The manifest's interpolation '{Interpolation}' is unknown; expected one of {string.Join(", ", interpolations.Select(InterpolationName))}.");
        return new ImagePreprocessingOptions(ImageSize)
        {
            Mean = Mean.ToArray(),
            Std = Std.ToArray(),
            ResizeMode = mode,
            Interpolation = interpolations.First(i => InterpolationName(i) == Interpolation),
        };
    }

    /// <summary>The lower-case hex SHA-256 of a file.</summary>
    public static string HashFile(string path)
    {
        using var stream = File.OpenRead(path);
        return Convert.ToHexStringLower(SHA256.HashData(stream));
    }
}
