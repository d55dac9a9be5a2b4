using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using Microsoft.ML.Tokenizers;

namespace Microsoft.ML.Clip.Tokenization;

/// <summary>
/// SigLIP's tokenizer as open_clip runs it: a SentencePiece model (SigLIP's T5 <c>spiece.model</c>, Unigram; SigLIP 2's
/// Gemma <c>tokenizer.model</c>, BPE) through Microsoft.ML.Tokenizers, after open_clip's <c>canonicalize</c> cleaning;
/// no start token, the end-of-text token after the caption's ids, then padding to the context length.
/// </summary>
/// <remarks>
/// <para>Special tokens, and the rule behind each choice:</para>
/// <list type="bullet">
/// <item>No start token: open_clip's <c>SigLipTokenizer</c> builds T5's tokenizer (whose template is <c>$A &lt;/s&gt;</c>)
/// and Gemma's with <c>add_bos_token=False</c>; the released hub folders were saved from those.</item>
/// <item>End token <c>&lt;/s&gt;</c> (T5, id 1) or <c>&lt;eos&gt;</c> (Gemma, id 1): the model's <c>eos_id</c>, appended
/// after the caption (T5's template; Gemma's <c>add_eos_token=True</c>); open_clip also sets <c>eos_token_id = 1</c>.</item>
/// <item>Pad: SigLIP pads with its end token <c>&lt;/s&gt;</c> (open_clip: <c>pad_token_id = 1</c> for every tokenizer
/// but Gemma's; big_vision's SigLIP pads with eos), SigLIP 2 with Gemma's <c>&lt;pad&gt;</c> (open_clip:
/// <c>pad_token_id = 0</c> for Gemma). A hub folder's <c>special_tokens_map.json</c>, when present, decides instead
/// (<see cref="ClipTextTokenizer.FromHubFolder(string)"/>): it is what those tokenizers were saved with.</item>
/// <item>Truncation: Hugging Face's, which keeps the first <c>context − 1</c> ids and then appends the end token.</item>
/// </list>
/// <para>Text matching a control piece (<c>&lt;/s&gt;</c>, <c>&lt;pad&gt;</c>) is never encoded as that piece, as in
/// SentencePiece; <c>canonicalize</c> removes the ASCII punctuation such spellings need anyway.</para>
/// </remarks>
public sealed class SigLipTokenizer : ClipTextTokenizer
{
    /// <summary>The <see cref="ClipTextTokenizer.Kind"/> of SentencePiece tokenizers.</summary>
    public const string KindName = "sentencepiece";

    /// <summary>The context length of the released SigLIP and SigLIP 2 text towers at base size (64; SO400M-14 at 224 px uses 16).</summary>
    public const int DefaultContextLength = 64;

    /// <summary>The name of the model file inside saved models and ONNX exports.</summary>
    internal const string ModelFile = "sentencepiece.model";

    private readonly SentencePieceModelFile _model;
    private readonly SentencePieceTokenizer _sentencePiece;

    private SigLipTokenizer(SentencePieceModelFile model, int endOfTextId, int padId, ClipTextCleaning cleaning, string source)
    {
        if (!Enum.IsDefined(cleaning))
            throw new ArgumentOutOfRangeException(nameof(cleaning), cleaning, "Unknown text cleaning.");
        foreach (var (name, id) in new[] { ("end-of-text", endOfTextId), ("pad", padId) })
            if ((uint)id >= (uint)model.Pieces.Count)
                throw new InvalidDataException($"'{source}': the {name} id {id} is outside the model's {model.Pieces.Count} pieces.");
        _model = model;
        EndOfTextId = endOfTextId;
        PadId = padId;
        Cleaning = cleaning;
        _sentencePiece = model.Type == SentencePieceModelFile.ModelType.Unigram ? Unigram(model) : Bpe(model, source);
    }

    /// <inheritdoc/>
    public override string Kind => KindName;

    /// <inheritdoc/>
    public override int VocabularySize => _model.Pieces.Count;

    /// <summary>Always null: SigLIP rows start with the caption.</summary>
    public override int? StartOfTextId => null;

    /// <inheritdoc/>
    public override int EndOfTextId { get; }

    /// <inheritdoc/>
    public override int PadId { get; }

    /// <inheritdoc/>
    public override ClipTextCleaning Cleaning { get; }

    /// <summary>True for a BPE model (Gemma's), false for a Unigram one (T5's).</summary>
    public bool IsBpe => _model.Type == SentencePieceModelFile.ModelType.Bpe;

    /// <summary>
    /// SigLIP's tokenizer from its <c>spiece.model</c> (T5's English or multilingual SentencePiece vocabulary):
    /// <c>canonicalize</c> cleaning, the model's end token after the caption, rows padded with that end token.
    /// </summary>
    /// <param name="path">The <c>spiece.model</c> file.</param>
    /// <exception cref="InvalidDataException">The file is not a SentencePiece model; the message names it.</exception>
    public static SigLipTokenizer FromSpieceModel(string path) => FromFile(path, gemma: false);

    /// <summary>SigLIP's tokenizer from a <c>spiece.model</c>'s content (read to its end, left open). See <see cref="FromSpieceModel(string)"/>.</summary>
    /// <param name="model">The model file's content.</param>
    /// <param name="source">A name for the content in error messages.</param>
    public static SigLipTokenizer FromSpieceModel(Stream model, string source = "spiece.model") => FromStream(model, source, gemma: false);

    /// <summary>
    /// SigLIP 2's tokenizer from Gemma's <c>tokenizer.model</c> (SentencePiece BPE with byte fallback):
    /// <c>canonicalize</c> cleaning, the model's end token (<c>&lt;eos&gt;</c>) after the caption, rows padded with the
    /// model's pad token (<c>&lt;pad&gt;</c>).
    /// </summary>
    /// <param name="path">The <c>tokenizer.model</c> file.</param>
    /// <exception cref="InvalidDataException">The file is not a SentencePiece model or has no pad piece; the message names it.</exception>
    public static SigLipTokenizer FromGemmaModel(string path) => FromFile(path, gemma: true);

    /// <summary>SigLIP 2's tokenizer from a Gemma <c>tokenizer.model</c>'s content (read to its end, left open). See <see cref="FromGemmaModel(string)"/>.</summary>
    /// <param name="model">The model file's content.</param>
    /// <param name="source">A name for the content in error messages.</param>
    public static SigLipTokenizer FromGemmaModel(Stream model, string source = "tokenizer.model") => FromStream(model, source, gemma: true);

    /// <inheritdoc/>
    public override IReadOnlyList<int> EncodeToIds(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        string cleaned = ClipTextCleaner.Clean(text, Cleaning);
        if (cleaned.Length == 0) return Array.Empty<int>();
        var ids = _sentencePiece.EncodeToIds(cleaned, addBeginningOfSentence: false, addEndOfSentence: false);
        return IsBpe ? ids : FuseUnknown(ids, _model.UnkId);
    }

    /// <summary>
    /// One unknown id for each run of unknown characters, as SentencePiece's Unigram model gives (its encoder merges
    /// consecutive unknown pieces; Hugging Face's T5 tokenizer has <c>fuse_unk</c>); Microsoft.ML.Tokenizers emits one
    /// per character ("12345" without digit pieces: five).
    /// </summary>
    private static IReadOnlyList<int> FuseUnknown(IReadOnlyList<int> ids, int unknown)
    {
        List<int>? fused = null;
        for (int i = 0; i < ids.Count; i++)
        {
            bool repeat = i > 0 && ids[i] == unknown && ids[i - 1] == unknown;
            if (repeat && fused is null)
            {
                fused = new List<int>(ids.Count);
                for (int j = 0; j < i; j++) fused.Add(ids[j]);
            }
            if (!repeat) fused?.Add(ids[i]);
        }
        return fused ?? ids;
    }

    /// <inheritdoc/>
    public override string Decode(IEnumerable<int> ids)
    {
        ArgumentNullException.ThrowIfNull(ids);
        var kept = new List<int>();
        foreach (int id in ids)
        {
            if ((uint)id >= (uint)VocabularySize)
                throw new ArgumentOutOfRangeException(nameof(ids), id, $"Token id {id} is outside the vocabulary (0 to {VocabularySize - 1}).");
            if (id == EndOfTextId) break;
            if (id != PadId) kept.Add(id);
        }
        return _sentencePiece.Decode(kept, considerSpecialTokens: false);
    }

    /// <summary>Creates the tokenizer with the given special ids (a hub folder's <c>special_tokens_map.json</c>, a saved model).</summary>
    internal static SigLipTokenizer Create(byte[] modelBytes, string source, ClipTextCleaning cleaning, Func<SentencePieceModelFile, (int EndOfText, int Pad)> specialIds)
    {
        var model = SentencePieceModelFile.Parse(modelBytes, source);
        var (end, pad) = specialIds(model);
        return new SigLipTokenizer(model, end, pad, cleaning, source);
    }

    /// <summary>The special ids open_clip uses for SigLIP (<paramref name="gemma"/> false) or SigLIP 2 (see the class remarks).</summary>
    internal static (int EndOfText, int Pad) OpenClipSpecialIds(SentencePieceModelFile model, bool gemma, string source)
    {
        if (!gemma) return (model.EosId, model.EosId);
        if (model.PadId < 0)
            throw new InvalidDataException($"'{source}' has no pad piece (trainer_spec.pad_id is {model.PadId}); SigLIP 2 pads with Gemma's <pad>.");
        return (model.EosId, model.PadId);
    }

    /// <summary>The model file, as saved in model zips and ONNX exports.</summary>
    internal override IReadOnlyList<(string Name, byte[] Content)> SaveFiles() => [(ModelFile, _model.Bytes)];

    /// <summary>Reads a tokenizer saved by <see cref="SaveFiles"/> with its settings.</summary>
    internal static SigLipTokenizer FromSavedFiles(Func<string, byte[]> read, TokenizerSettings settings, string source) =>
        Create(read(ModelFile), source + ModelFile, settings.Cleaning, _ => (settings.EndOfTextId, settings.PadId));

    private static SigLipTokenizer FromFile(string path, bool gemma)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        return FromBytes(File.ReadAllBytes(path), path, gemma);
    }

    private static SigLipTokenizer FromStream(Stream model, string source, bool gemma)
    {
        ArgumentNullException.ThrowIfNull(model);
        using var copy = new MemoryStream();
        model.CopyTo(copy);
        return FromBytes(copy.ToArray(), source, gemma);
    }

    private static SigLipTokenizer FromBytes(byte[] bytes, string source, bool gemma) =>
        Create(bytes, source, ClipTextCleaning.Canonicalize, model => OpenClipSpecialIds(model, gemma, source));

    /// <summary>
    /// A Unigram model through Microsoft.ML.Tokenizers' list-based factory (its model-file reader needs a bos piece,
    /// which T5's vocabulary lacks). That factory treats the pieces named <c>&lt;s&gt;</c>, <c>&lt;/s&gt;</c> and
    /// <c>&lt;pad&gt;</c> as control pieces; any other control piece of the model is passed as a special token so that
    /// segmentation never produces it either.
    /// </summary>
    private static SentencePieceTokenizer Unigram(SentencePieceModelFile model)
    {
        var controls = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int id = 0; id < model.Pieces.Count; id++)
        {
            var (piece, _, type) = model.Pieces[id];
            if (type == SentencePieceModelFile.PieceType.Control && piece is not ("<s>" or "</s>" or "<pad>"))
                controls[piece] = id;
        }
        return SentencePieceTokenizer.Create(
            model.Pieces.Select(p => (p.Piece, p.Score)),
            model.UnkId,
            addBeginningOfSentence: false,
            addEndOfSentence: false,
            precompiledCharsMap: model.PrecompiledCharsmap,
            addDummyPrefix: model.AddDummyPrefix,
            escapeWhiteSpaces: model.EscapeWhitespaces,
            treatWhitespaceAsSuffix: model.TreatWhitespaceAsSuffix,
            byteFallback: model.ByteFallback,
            specialTokens: controls.Count > 0 ? controls : null);
    }

    /// <summary>A BPE model (Gemma's) through Microsoft.ML.Tokenizers' own model-file reader.</summary>
    private static SentencePieceTokenizer Bpe(SentencePieceModelFile model, string source)
    {
        if (model.BosId < 0)
            throw new InvalidDataException($"'{source}' is a SentencePiece BPE model without a bos piece (trainer_spec.bos_id {model.BosId}); Microsoft.ML.Tokenizers reads BPE models only with one (Gemma's tokenizer.model has <bos>).");
        using var stream = new MemoryStream(model.Bytes, writable: false);
        return SentencePieceTokenizer.Create(stream, addBeginningOfSentence: false, addEndOfSentence: false);
    }
}
