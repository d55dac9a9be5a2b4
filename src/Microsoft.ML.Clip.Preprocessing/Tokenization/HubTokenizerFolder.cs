using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text.Json;

namespace Microsoft.ML.Clip.Tokenization;

/// <summary>
/// Chooses and loads the tokenizer of an open_clip hub folder (<see cref="ClipTextTokenizer.FromHubFolder(string)"/>).
/// open_clip itself builds <c>HFTokenizer(text_cfg.hf_tokenizer_name, **text_cfg.tokenizer_kwargs)</c> (Hugging Face's
/// <c>AutoTokenizer</c> over the folder's files) when the config names a tokenizer, and its built-in OpenAI BPE
/// otherwise; this reader follows the files the folder holds.
/// </summary>
internal static class HubTokenizerFolder
{
    public const string ConfigFile = "open_clip_config.json";
    public const string SpieceModel = "spiece.model";
    public const string GemmaModel = "tokenizer.model";
    public const string OpenAIMerges = "bpe_simple_vocab_16e6.txt.gz";
    public const string SpecialTokensMap = "special_tokens_map.json";

    public static ClipTextTokenizer Read(string directory)
    {
        ArgumentException.ThrowIfNullOrEmpty(directory);
        if (!Directory.Exists(directory))
            throw new DirectoryNotFoundException($"The hub folder '{directory}' does not exist.");
        var config = TextConfig.Read(Path.Combine(directory, ConfigFile));
        string File(string name) => Path.Combine(directory, name);

        if (System.IO.File.Exists(File(SpieceModel)))
            return SentencePiece(directory, SpieceModel, gemma: false, config);
        if (System.IO.File.Exists(File(GemmaModel)))
            return SentencePiece(directory, GemmaModel, gemma: true, config);
        if (System.IO.File.Exists(File(ClipTokenizer.VocabFile)) && System.IO.File.Exists(File(ClipTokenizer.MergesFile)))
        {
            config.RequireLowerFor("CLIP's BPE tokenizer");
            return ClipTokenizer.FromHuggingFace(File(ClipTokenizer.VocabFile), File(ClipTokenizer.MergesFile));
        }
        if (System.IO.File.Exists(File(OpenAIMerges)))
        {
            config.RequireLowerFor("CLIP's BPE tokenizer");
            return ClipTokenizer.FromOpenAIMergesFile(File(OpenAIMerges));
        }
        throw NoTokenizer(directory, config);
    }

    private static SigLipTokenizer SentencePiece(string directory, string modelFile, bool gemma, TextConfig config)
    {
        string path = Path.Combine(directory, modelFile);
        var specials = SpecialTokens.Read(Path.Combine(directory, SpecialTokensMap));
        return SigLipTokenizer.Create(File.ReadAllBytes(path), path, config.CleaningFor(sentencePiece: true), model =>
        {
            var (end, pad) = SigLipTokenizer.OpenClipSpecialIds(model, gemma, path);
            return (specials.IdOf("eos_token", model, path) ?? end, specials.IdOf("pad_token", model, path) ?? pad);
        });
    }

    private static FileNotFoundException NoTokenizer(string directory, TextConfig config)
    {
        var present = Directory.EnumerateFiles(directory).Select(Path.GetFileName).OrderBy(n => n, StringComparer.Ordinal).ToList();
        string wanted = $"{SpieceModel} (SigLIP), {GemmaModel} (SigLIP 2, Gemma), {ClipTokenizer.VocabFile} + {ClipTokenizer.MergesFile} or {OpenAIMerges} (CLIP)";
        string hint = present.Contains("tokenizer.json")
            ? " It has tokenizer.json, Hugging Face's format, which is not read here: add the SentencePiece model file from the same hub repository (spiece.model or tokenizer.model)."
            : config.HfTokenizerName is { Length: > 0 } name
                ? $" Its config names the tokenizer '{name}' (model_cfg.text_cfg.hf_tokenizer_name): copy that repository's tokenizer files into the folder."
                : " A config without hf_tokenizer_name means open_clip's built-in OpenAI vocabulary: add bpe_simple_vocab_16e6.txt.gz.";
        return new FileNotFoundException(
            $"The hub folder '{directory}' holds no tokenizer file this library reads; it looks for {wanted} and found {(present.Count == 0 ? "no files" : string.Join(", ", present))}.{hint}",
            Path.Combine(directory, SpieceModel));
    }

    /// <summary>What <c>model_cfg.text_cfg</c> of <c>open_clip_config.json</c> says about the tokenizer.</summary>
    private sealed record TextConfig(string Path, string? HfTokenizerName, string? Clean)
    {
        private const string CleanField = "model_cfg.text_cfg.tokenizer_kwargs.clean";

        public static TextConfig Read(string path)
        {
            if (!File.Exists(path)) return new TextConfig(path, null, null);
            try
            {
                using var document = JsonDocument.Parse(File.ReadAllText(path));
                if (!document.RootElement.TryGetProperty("model_cfg", out var model) || model.ValueKind != JsonValueKind.Object
                    || !model.TryGetProperty("text_cfg", out var text) || text.ValueKind != JsonValueKind.Object)
                    return new TextConfig(path, null, null);
                string? name = text.TryGetProperty("hf_tokenizer_name", out var n) && n.ValueKind == JsonValueKind.String ? n.GetString() : null;
                string? clean = null;
                if (text.TryGetProperty("tokenizer_kwargs", out var kwargs) && kwargs.ValueKind == JsonValueKind.Object)
                {
                    foreach (var property in kwargs.EnumerateObject())
                    {
                        if (property.Name != "clean")
                            throw new InvalidDataException($"'{path}': model_cfg.text_cfg.tokenizer_kwargs.{property.Name} is not implemented; only 'clean' is read.");
                        if (property.Value.ValueKind != JsonValueKind.String)
                            throw new InvalidDataException($"'{path}': {CleanField} must be a string.");
                        clean = property.Value.GetString();
                    }
                }
                return new TextConfig(path, name, clean);
            }
            catch (JsonException ex)
            {
                throw new InvalidDataException($"'{path}' is not valid JSON: {ex.Message}", ex);
            }
        }

        /// <summary>
        /// The cleaning: the config's <c>clean</c>, else open_clip's default for how it builds the tokenizer:
        /// <c>whitespace</c> for <c>HFTokenizer</c> (a config with <c>hf_tokenizer_name</c>), <c>canonicalize</c> for its
        /// <c>SigLipTokenizer</c> (a SentencePiece model without one), <c>lower</c> for its OpenAI BPE.
        /// </summary>
        public ClipTextCleaning CleaningFor(bool sentencePiece) => Clean switch
        {
            null when !string.IsNullOrEmpty(HfTokenizerName) => ClipTextCleaning.Whitespace,
            null => sentencePiece ? ClipTextCleaning.Canonicalize : ClipTextCleaning.Lower,
            "lower" => ClipTextCleaning.Lower,
            "whitespace" => ClipTextCleaning.Whitespace,
            "canonicalize" => ClipTextCleaning.Canonicalize,
            _ => throw new InvalidDataException($"'{Path}': {CleanField} is '{Clean}'; open_clip's cleanings are 'lower', 'whitespace' and 'canonicalize'."),
        };

        /// <summary>
        /// CLIP's BPE cleans with <c>lower</c> only. Without a <c>clean</c> entry that is what a CLIP model gets: open_clip's
        /// own BPE uses it, and Hugging Face's CLIP tokenizer (under <c>HFTokenizer</c>'s <c>whitespace</c>) lowercases itself.
        /// </summary>
        public void RequireLowerFor(string tokenizer)
        {
            if (Clean is not (null or "lower"))
                throw new InvalidDataException($"'{Path}': {CleanField} is '{Clean}', which is not implemented for {tokenizer} (it cleans with 'lower').");
        }
    }

    /// <summary>A hub folder's <c>special_tokens_map.json</c> (Hugging Face's record of a tokenizer's special tokens).</summary>
    private sealed class SpecialTokens(Dictionary<string, string> tokens)
    {
        public static SpecialTokens Read(string path)
        {
            var tokens = new Dictionary<string, string>(StringComparer.Ordinal);
            if (!File.Exists(path)) return new SpecialTokens(tokens);
            try
            {
                using var document = JsonDocument.Parse(File.ReadAllText(path));
                if (document.RootElement.ValueKind != JsonValueKind.Object)
                    throw new InvalidDataException($"'{path}' must hold a JSON object.");
                foreach (var property in document.RootElement.EnumerateObject())
                {
                    // A token is a string or, in newer files, an object whose "content" is the string.
                    var value = property.Value;
                    if (value.ValueKind == JsonValueKind.Object && value.TryGetProperty("content", out var content)) value = content;
                    if (value.ValueKind == JsonValueKind.String) tokens[property.Name] = value.GetString()!;
                }
            }
            catch (JsonException ex)
            {
                throw new InvalidDataException($"'{path}' is not valid JSON: {ex.Message}", ex);
            }
            return new SpecialTokens(tokens);
        }

        /// <summary>The id of the token the map names under <paramref name="field"/>, or null when it names none.</summary>
        public int? IdOf(string field, SentencePieceModelFile model, string modelPath)
        {
            if (!tokens.TryGetValue(field, out var piece)) return null;
            int id = model.IdOf(piece);
            if (id < 0)
                throw new InvalidDataException($"{SpecialTokensMap} names {field} '{piece}', which '{modelPath}' does not have.");
            return id;
        }
    }
}
