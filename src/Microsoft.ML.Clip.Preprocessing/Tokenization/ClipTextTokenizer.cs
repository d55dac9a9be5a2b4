using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Numerics;
using System.Text.Json;
using System.Text.Json.Serialization;
using System.Threading.Tasks;

namespace Microsoft.ML.Clip.Tokenization;

/// <summary>
/// Turns captions into the fixed-length rows of token ids a CLIP-family text tower reads: what every stage, the model
/// bundle, training, model zips and ONNX exports take. Two kinds exist: <see cref="ClipTokenizer"/> (CLIP's byte-level
/// BPE, OpenAI and open_clip models) and <see cref="SigLipTokenizer"/> (SentencePiece: SigLIP's <c>spiece.model</c>,
/// SigLIP 2's Gemma <c>tokenizer.model</c>). <see cref="FromHubFolder(string)"/> picks the right one for an open_clip
/// hub folder.
/// </summary>
/// <remarks>
/// <para>A row is <c>[StartOfTextId]? ids… EndOfTextId PadId…</c>: the start token where the tokenizer has one, the
/// caption's ids cut to fit, the end token, then the pad id up to the context length. Both open_clip's truncation
/// (CLIP: cut to the context length, last id replaced by the end token) and Hugging Face's (SigLIP: ids cut to leave
/// room for the end token) give exactly this.</para>
/// <para>Instances are immutable and safe to use from several threads at once. The set of kinds is closed (a saved
/// model must be able to read its tokenizer back), so the class cannot be derived from outside the library.</para>
/// </remarks>
/// <example>
/// <code>
/// var clip = ClipTokenizer.FromOpenAIMergesFile("bpe_simple_vocab_16e6.txt.gz");   // CLIP's BPE
/// var siglip = SigLipTokenizer.FromSpieceModel("spiece.model");                      // SigLIP's SentencePiece
/// var fromFolder = ClipTextTokenizer.FromHubFolder("models/ViT-B-16-SigLIP2");       // whatever the folder ships
/// int[] ids = clip.Encode("a photo of a cat", contextLength: 77);                    // padded to the context length
/// </code>
/// </example>
public abstract class ClipTextTokenizer
{
    private protected ClipTextTokenizer()
    {
    }

    /// <summary>What kind of tokenizer this is, as saved in model zips and ONNX manifests: <c>clip-bpe</c> or <c>sentencepiece</c>.</summary>
    public abstract string Kind { get; }

    /// <summary>The number of token ids, special ones included: ids are 0 to this − 1.</summary>
    public abstract int VocabularySize { get; }

    /// <summary>The id a row starts with (CLIP's <c>&lt;start_of_text&gt;</c>); null when rows start with the caption (SigLIP).</summary>
    public abstract int? StartOfTextId { get; }

    /// <summary>The id that follows the caption's ids.</summary>
    public abstract int EndOfTextId { get; }

    /// <summary>The id that fills a row after the end token (CLIP: 0; SigLIP: its <c>&lt;/s&gt;</c>; SigLIP 2: Gemma's <c>&lt;pad&gt;</c>).</summary>
    public abstract int PadId { get; }

    /// <summary>How captions are cleaned before they are split into tokens.</summary>
    public abstract ClipTextCleaning Cleaning { get; }

    /// <summary>The shortest row that holds the special tokens (2 with a start token, else 1).</summary>
    public int MinimumContextLength => StartOfTextId is null ? 1 : 2;

    /// <summary>Cleans and tokenizes <paramref name="text"/>, without start, end or padding tokens.</summary>
    /// <param name="text">The caption.</param>
    /// <returns>The token ids; empty when nothing is left after cleaning.</returns>
    public abstract IReadOnlyList<int> EncodeToIds(string text);

    /// <summary>
    /// Turns ids back into (cleaned) text: start and pad tokens are skipped and the first end token ends the text.
    /// </summary>
    /// <param name="ids">Token ids, for example a row of <see cref="Encode(string?, int)"/>.</param>
    /// <exception cref="ArgumentOutOfRangeException">An id is outside 0 to <see cref="VocabularySize"/> − 1.</exception>
    public abstract string Decode(IEnumerable<int> ids);

    /// <summary>
    /// Encodes one caption as a row of <paramref name="contextLength"/> ids (see the remarks of <see cref="ClipTextTokenizer"/>).
    /// Null, empty or whitespace-only text gives the special tokens and padding only.
    /// </summary>
    /// <param name="text">The caption (null is treated as empty).</param>
    /// <param name="contextLength">The row length, at least <see cref="MinimumContextLength"/> (the model's context length).</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="contextLength"/> is below <see cref="MinimumContextLength"/>.</exception>
    public int[] Encode(string? text, int contextLength)
    {
        CheckContextLength(contextLength);
        var row = new int[contextLength];
        FillRow(text, row.AsSpan());
        return row;
    }

    /// <summary>
    /// Encodes captions into one row-major int64 array of <c>texts.Count</c> × <paramref name="contextLength"/> ids, each
    /// row as <see cref="Encode(string?, int)"/> gives it: the layout an ONNX text encoder's <c>input_ids</c> or a tensor
    /// of shape [count, context] takes as is.
    /// </summary>
    /// <param name="texts">The captions (null entries are treated as empty).</param>
    /// <param name="contextLength">The row length, at least <see cref="MinimumContextLength"/>.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="contextLength"/> is below <see cref="MinimumContextLength"/>.</exception>
    public long[] EncodeBatchToIds(IReadOnlyList<string?> texts, int contextLength)
    {
        ArgumentNullException.ThrowIfNull(texts);
        CheckContextLength(contextLength);
        var data = new long[(long)texts.Count * contextLength];
        EncodeRows(texts, 0, texts.Count, contextLength, data);
        return data;
    }

    /// <summary>
    /// Encodes texts <c>[start, start + count)</c> of <paramref name="texts"/>, in parallel, into the first
    /// <paramref name="count"/> rows of <paramref name="destination"/> (row-major, <paramref name="contextLength"/> ids per
    /// text), each row as <see cref="Encode(string?, int)"/> gives it: the batch filler of the embedding stages and generators.
    /// </summary>
    internal void EncodeRows(IReadOnlyList<string?> texts, int start, int count, int contextLength, long[] destination)
    {
        CheckContextLength(contextLength);
        Parallel.For(0, count, i => FillRow(texts[start + i], destination.AsSpan(i * contextLength, contextLength)));
    }

    /// <summary>
    /// The tokenizer of an open_clip hub folder (a model downloaded from the Hugging Face hub, or a folder laid out like
    /// one), chosen from its files and <c>open_clip_config.json</c>:
    /// <list type="bullet">
    /// <item><c>spiece.model</c>: SigLIP's SentencePiece (<see cref="SigLipTokenizer.FromSpieceModel(string)"/>);</item>
    /// <item><c>tokenizer.model</c>: SigLIP 2's Gemma SentencePiece (<see cref="SigLipTokenizer.FromGemmaModel(string)"/>);</item>
    /// <item><c>vocab.json</c> + <c>merges.txt</c>: CLIP's BPE (<see cref="ClipTokenizer.FromHuggingFace(string, string)"/>);</item>
    /// <item><c>bpe_simple_vocab_16e6.txt.gz</c>: CLIP's BPE (<see cref="ClipTokenizer.FromOpenAIMergesFile(string)"/>).</item>
    /// </list>
    /// The folder's <c>special_tokens_map.json</c>, when present, names the end and pad tokens of a SentencePiece model;
    /// <c>model_cfg.text_cfg.tokenizer_kwargs.clean</c> of <c>open_clip_config.json</c> the cleaning (open_clip's default
    /// otherwise: <c>whitespace</c> for a model with <c>hf_tokenizer_name</c>, <c>lower</c> for one without).
    /// </summary>
    /// <param name="directory">The hub folder.</param>
    /// <exception cref="DirectoryNotFoundException">The folder does not exist.</exception>
    /// <exception cref="FileNotFoundException">The folder holds no tokenizer file this library reads; the message lists what it looked for and what it found.</exception>
    /// <exception cref="InvalidDataException">A file is malformed, or the config asks for something not implemented; the message names the file and field.</exception>
    public static ClipTextTokenizer FromHubFolder(string directory) => HubTokenizerFolder.Read(directory);

    /// <summary>The files that hold this tokenizer, by the names <see cref="Load"/> reads them with.</summary>
    internal abstract IReadOnlyList<(string Name, byte[] Content)> SaveFiles();

    /// <summary>What a saved tokenizer records beside its files.</summary>
    internal TokenizerSettings Settings => new(Kind, Cleaning, StartOfTextId, EndOfTextId, PadId);

    /// <summary>Reads back a tokenizer written by <see cref="SaveFiles"/> and <see cref="Settings"/>.</summary>
    /// <param name="settings">The recorded settings.</param>
    /// <param name="read">Returns a saved file's content by name.</param>
    /// <param name="source">Where the files are, for error messages: a file's name is appended to it (a folder with its
    /// trailing separator, or a model zip's entry prefix).</param>
    /// <exception cref="InvalidDataException">The kind is unknown, or the files disagree with the settings.</exception>
    internal static ClipTextTokenizer Load(TokenizerSettings settings, Func<string, byte[]> read, string source)
    {
        ClipTextTokenizer tokenizer = settings.Kind switch
        {
            ClipTokenizer.KindName => ClipTokenizer.FromSavedFiles(read, source),
            SigLipTokenizer.KindName => SigLipTokenizer.FromSavedFiles(read, settings, source),
            _ => throw new InvalidDataException($"{source}: the tokenizer kind '{settings.Kind}' is unknown; this library reads '{ClipTokenizer.KindName}' and '{SigLipTokenizer.KindName}'."),
        };
        if (tokenizer.Settings != settings)
            throw new InvalidDataException($"{source}: the saved tokenizer files give {tokenizer.Settings}, but the saved settings say {settings}.");
        return tokenizer;
    }

    /// <summary>True when both encode every text to the same ids: the same kind, settings and files.</summary>
    internal bool SameAs(ClipTextTokenizer other)
    {
        if (ReferenceEquals(this, other)) return true;
        if (Settings != other.Settings || VocabularySize != other.VocabularySize) return false;
        var mine = SaveFiles();
        var theirs = other.SaveFiles();
        return mine.Count == theirs.Count
            && mine.Zip(theirs).All(p => p.First.Name == p.Second.Name && p.First.Content.AsSpan().SequenceEqual(p.Second.Content));
    }

    private void FillRow<T>(string? text, Span<T> row) where T : INumber<T>
    {
        var ids = string.IsNullOrEmpty(text) ? Array.Empty<int>() : EncodeToIds(text);
        int position = 0;
        if (StartOfTextId is int start) row[position++] = T.CreateChecked(start);
        int count = Math.Min(ids.Count, row.Length - position - 1);
        for (int i = 0; i < count; i++) row[position++] = T.CreateChecked(ids[i]);
        row[position++] = T.CreateChecked(EndOfTextId);
        row[position..].Fill(T.CreateChecked(PadId));
    }

    private void CheckContextLength(int contextLength)
    {
        if (contextLength < MinimumContextLength)
            throw new ArgumentOutOfRangeException(nameof(contextLength), contextLength,
                $"The context length must be at least {MinimumContextLength}, room for the {(StartOfTextId is null ? "end token" : "start and end tokens")}.");
    }
}

/// <summary>What a saved tokenizer records beside its files (model zips, ONNX manifests).</summary>
/// <param name="Kind"><see cref="ClipTextTokenizer.Kind"/>.</param>
/// <param name="Cleaning">The caption cleaning.</param>
/// <param name="StartOfTextId">The start token, if any.</param>
/// <param name="EndOfTextId">The end token.</param>
/// <param name="PadId">The padding id.</param>
internal sealed record TokenizerSettings(string Kind, ClipTextCleaning Cleaning, int? StartOfTextId, int EndOfTextId, int PadId)
{
    /// <summary>The settings of every tokenizer saved before tokenizers had kinds: CLIP's BPE, start/end from its vocabulary, zero padding.</summary>
    public static TokenizerSettings LegacyClip(int startOfTextId, int endOfTextId) =>
        new(ClipTokenizer.KindName, ClipTextCleaning.Lower, startOfTextId, endOfTextId, 0);

    private static readonly JsonSerializerOptions _json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.SnakeCaseLower, allowIntegerValues: false) },
        UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
    };

    /// <summary>The settings as JSON (snake_case names, the cleaning by name).</summary>
    public string ToJson() => JsonSerializer.Serialize(this, _json);

    /// <summary>Reads settings written by <see cref="ToJson"/>.</summary>
    /// <exception cref="InvalidDataException">The text is not such settings; the message names <paramref name="source"/>.</exception>
    public static TokenizerSettings FromJson(string json, string source)
    {
        try
        {
            return JsonSerializer.Deserialize<TokenizerSettings>(json, _json)
                ?? throw new InvalidDataException($"'{source}' holds no tokenizer settings.");
        }
        catch (JsonException ex)
        {
            throw new InvalidDataException($"'{source}' is not valid tokenizer settings: {ex.Message}", ex);
        }
    }
}
