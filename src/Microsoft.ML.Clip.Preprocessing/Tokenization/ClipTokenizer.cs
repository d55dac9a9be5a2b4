using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text;
using Microsoft.ML.Clip.IO;
using Microsoft.ML.Tokenizers;

namespace Microsoft.ML.Clip.Tokenization;

/// <summary>
/// CLIP's byte-level BPE tokenizer, giving the same ids as open_clip's default tokenizer (<c>open_clip.tokenize</c>)
/// for the same vocabulary: <see cref="ClipTextCleaner"/> cleaning, open_clip's pre-tokenizer pattern, BPE with
/// the <c>&lt;/w&gt;</c> end-of-word suffix, start/end tokens, zero padding and open_clip's truncation.
/// </summary>
/// <remarks>
/// <para>Load it from OpenAI's merges file (<see cref="FromOpenAIMergesFile(string)"/>) or from Hugging Face's
/// <c>vocab.json</c> + <c>merges.txt</c> (<see cref="FromHuggingFace(string, string)"/>); <see cref="Save(Stream, Stream)"/>
/// writes the latter pair, which is how a saved model carries its tokenizer.</para>
/// <para>Special tokens behave as in open_clip whatever file they came from: the literal text
/// <c>&lt;start_of_text&gt;</c> / <c>&lt;end_of_text&gt;</c> in a caption encodes to the special id, while Hugging Face's
/// spellings (<c>&lt;|startoftext|&gt;</c>) are ordinary text.</para>
/// <para>Instances are immutable and safe to use from several threads at once.</para>
/// </remarks>
public sealed class ClipTokenizer : ClipTextTokenizer
{
    /// <summary>The <see cref="ClipTextTokenizer.Kind"/> of CLIP's BPE tokenizer.</summary>
    public const string KindName = "clip-bpe";

    /// <summary>The context length of every released CLIP text tower.</summary>
    public const int DefaultContextLength = 77;

    private readonly ClipVocabulary _vocabulary;
    private readonly BpeTokenizer _bpe;

    private ClipTokenizer(ClipVocabulary vocabulary)
    {
        _vocabulary = vocabulary;
        var specialTokens = new Dictionary<string, int>(StringComparer.Ordinal)
        {
            [ClipVocabulary.StartOfTextToken] = vocabulary.StartOfTextId,
            [ClipVocabulary.EndOfTextToken] = vocabulary.EndOfTextId,
        };
        // Cleaning happens before (ClipTextCleaner), so the library gets no normalizer. With ByteLevel and the
        // "</w>" suffix its BPE matches open_clip's SimpleTokenizer.bpe merge for merge. The pre-tokenizer is ours:
        // a RegexPreTokenizer with open_clip's pattern splits non-BMP letters wrongly (see ClipPreTokenizer).
        _bpe = BpeTokenizer.Create(new BpeOptions(vocabulary.Tokens.Select((token, id) => new KeyValuePair<string, int>(token, id)))
        {
            Merges = vocabulary.Merges.Select(m => m.Left + " " + m.Right),
            SpecialTokens = specialTokens,
            PreTokenizer = ClipPreTokenizer.Instance,
            EndOfWordSuffix = ClipVocabulary.EndOfWordSuffix,
            ByteLevel = true,
        });
    }

    /// <summary>A tokenizer over a vocabulary built here (by <see cref="ClipBpeTrainer"/>) rather than read from files.</summary>
    internal static ClipTokenizer FromVocabulary(ClipVocabulary vocabulary)
    {
        ArgumentNullException.ThrowIfNull(vocabulary);
        return new ClipTokenizer(vocabulary);
    }

    /// <summary>The tokens and ranked merges behind this tokenizer.</summary>
    internal ClipVocabulary Vocabulary => _vocabulary;

    /// <inheritdoc/>
    public override string Kind => KindName;

    /// <summary>The id of <c>&lt;start_of_text&gt;</c> (49406 in OpenAI's vocabulary), which starts every row.</summary>
    public override int? StartOfTextId => _vocabulary.StartOfTextId;

    /// <summary>The id of <c>&lt;end_of_text&gt;</c> (49407 in OpenAI's vocabulary; the largest id, where the text tower pools).</summary>
    public override int EndOfTextId => _vocabulary.EndOfTextId;

    /// <summary>0: open_clip fills rows with zeros (<c>torch.zeros</c>, then the tokens).</summary>
    public override int PadId => 0;

    /// <summary>open_clip's <c>lower</c> cleaning, its default tokenizer's (<see cref="ClipTextCleaner"/>).</summary>
    public override ClipTextCleaning Cleaning => ClipTextCleaning.Lower;

    /// <summary>The number of tokens, special ones included (49408 for OpenAI's vocabulary): ids are 0 to this − 1.</summary>
    public override int VocabularySize => _vocabulary.Count;

    /// <summary>
    /// Loads OpenAI's <c>bpe_simple_vocab_16e6.txt.gz</c> (gzip-compressed, or already decompressed), building the
    /// vocabulary as open_clip does: 256 byte symbols, the same with <c>&lt;/w&gt;</c>, one token per merge of
    /// lines 2 to 48895, then <c>&lt;start_of_text&gt;</c> and <c>&lt;end_of_text&gt;</c>.
    /// </summary>
    /// <param name="bpeTxtGzPath">Path of the merges file.</param>
    /// <exception cref="InvalidDataException">The file is malformed; the message names the file and line.</exception>
    public static ClipTokenizer FromOpenAIMergesFile(string bpeTxtGzPath)
    {
        ArgumentException.ThrowIfNullOrEmpty(bpeTxtGzPath);
        using var stream = File.OpenRead(bpeTxtGzPath);
        return FromOpenAIMergesFile(stream, bpeTxtGzPath);
    }

    /// <summary>Loads OpenAI's merges file from a stream (read to its end, left open). See <see cref="FromOpenAIMergesFile(string)"/>.</summary>
    /// <param name="bpeTxtGz">The merges file's content, gzip-compressed or not.</param>
    /// <param name="source">A name for the content in error messages.</param>
    /// <exception cref="InvalidDataException">The content is malformed; the message names <paramref name="source"/> and the line.</exception>
    public static ClipTokenizer FromOpenAIMergesFile(Stream bpeTxtGz, string source = "stream")
    {
        ArgumentNullException.ThrowIfNull(bpeTxtGz);
        return new ClipTokenizer(ClipVocabulary.ReadOpenAIMerges(bpeTxtGz, source));
    }

    /// <summary>
    /// Loads Hugging Face's <c>vocab.json</c> (token → id, ids 0 to n − 1) and <c>merges.txt</c> (an optional
    /// <c>#version</c> line, then one merge a line, best first). The special tokens may be named
    /// <c>&lt;|startoftext|&gt;</c> / <c>&lt;|endoftext|&gt;</c> (Hugging Face) or <c>&lt;start_of_text&gt;</c> /
    /// <c>&lt;end_of_text&gt;</c> (open_clip).
    /// </summary>
    /// <param name="vocabJsonPath">Path of <c>vocab.json</c>.</param>
    /// <param name="mergesTxtPath">Path of <c>merges.txt</c>.</param>
    /// <exception cref="InvalidDataException">A file is malformed; the message names the file (and line).</exception>
    public static ClipTokenizer FromHuggingFace(string vocabJsonPath, string mergesTxtPath)
    {
        ArgumentException.ThrowIfNullOrEmpty(vocabJsonPath);
        ArgumentException.ThrowIfNullOrEmpty(mergesTxtPath);
        using var vocab = File.OpenRead(vocabJsonPath);
        using var merges = File.OpenRead(mergesTxtPath);
        return FromHuggingFace(vocab, merges, vocabJsonPath, mergesTxtPath);
    }

    /// <summary>Loads Hugging Face's files from streams (read to their end, left open). See <see cref="FromHuggingFace(string, string)"/>.</summary>
    /// <param name="vocabJson">The content of <c>vocab.json</c> (UTF-8).</param>
    /// <param name="mergesTxt">The content of <c>merges.txt</c> (UTF-8).</param>
    /// <param name="vocabSource">A name for <paramref name="vocabJson"/> in error messages.</param>
    /// <param name="mergesSource">A name for <paramref name="mergesTxt"/> in error messages.</param>
    /// <exception cref="InvalidDataException">The content is malformed; the message names the source (and line).</exception>
    public static ClipTokenizer FromHuggingFace(Stream vocabJson, Stream mergesTxt, string vocabSource = "vocab.json", string mergesSource = "merges.txt")
    {
        ArgumentNullException.ThrowIfNull(vocabJson);
        ArgumentNullException.ThrowIfNull(mergesTxt);
        return new ClipTokenizer(ClipVocabulary.ReadHuggingFace(vocabJson, vocabSource, mergesTxt, mergesSource));
    }

    /// <summary>
    /// Writes the tokenizer in Hugging Face's format, which <see cref="FromHuggingFace(Stream, Stream, string, string)"/>
    /// reads back to an identical tokenizer: <c>vocab.json</c> (UTF-8 JSON object token → id, in id order, the
    /// special tokens named <c>&lt;|startoftext|&gt;</c> / <c>&lt;|endoftext|&gt;</c>) and <c>merges.txt</c>
    /// (<c>#version: 0.2</c>, then one "left right" merge a line, best first, '\n' line ends). Both streams are left open.
    /// </summary>
    /// <param name="vocabJson">Receives <c>vocab.json</c>.</param>
    /// <param name="mergesTxt">Receives <c>merges.txt</c>.</param>
    public void Save(Stream vocabJson, Stream mergesTxt) => _vocabulary.WriteHuggingFace(vocabJson, mergesTxt);

    /// <summary>Writes <c>vocab.json</c> and <c>merges.txt</c> to files (each replaced atomically). See <see cref="Save(Stream, Stream)"/>.</summary>
    /// <param name="vocabJsonPath">Path of the <c>vocab.json</c> to write.</param>
    /// <param name="mergesTxtPath">Path of the <c>merges.txt</c> to write.</param>
    public void Save(string vocabJsonPath, string mergesTxtPath)
    {
        ArgumentException.ThrowIfNullOrEmpty(vocabJsonPath);
        ArgumentException.ThrowIfNullOrEmpty(mergesTxtPath);
        using var vocab = new MemoryStream();
        using var merges = new MemoryStream();
        Save(vocab, merges);
        AtomicFile.Write(vocabJsonPath, s => vocab.WriteTo(s));
        AtomicFile.Write(mergesTxtPath, s => merges.WriteTo(s));
    }

    /// <summary>Cleans and tokenizes <paramref name="text"/>, without start, end or padding tokens.</summary>
    /// <param name="text">The caption.</param>
    /// <returns>The BPE ids; empty for empty or whitespace-only text.</returns>
    public override IReadOnlyList<int> EncodeToIds(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        string cleaned = ClipTextCleaner.Clean(text);
        if (cleaned.Length == 0) return Array.Empty<int>();
        // The BPE of each word is cached by the library (words of up to 15 byte symbols, the first 10,000 seen,
        // under a lock), which covers the words that recur across captions; cleaning costs far less than BPE
        // (ASCII captions that are already clean are not even copied), so there is no second cache here.
        return _bpe.EncodeToIds(cleaned, considerPreTokenization: true, considerNormalization: false);
    }

    /// <summary>
    /// Turns ids back into text as open_clip's <c>decode</c> does (token strings joined, bytes decoded as UTF-8 with
    /// U+FFFD for invalid sequences, <c>&lt;/w&gt;</c> replaced by a space), and further: start tokens are skipped, the
    /// first end token ends the text (what follows is padding), and the trailing space is removed.
    /// </summary>
    /// <param name="ids">Token ids, for example a row of <see cref="ClipTextTokenizer.Encode(string?, int)"/>.</param>
    /// <returns>The cleaned (lowercased) text that the ids stand for.</returns>
    /// <exception cref="ArgumentOutOfRangeException">An id is outside 0 to <see cref="VocabularySize"/> − 1.</exception>
    public override string Decode(IEnumerable<int> ids)
    {
        ArgumentNullException.ThrowIfNull(ids);
        var bytes = new List<byte>(64);
        Span<byte> utf8 = stackalloc byte[4];
        foreach (int id in ids)
        {
            if (id == StartOfTextId) continue;
            if (id == EndOfTextId) break;
            if ((uint)id >= (uint)_vocabulary.Count)
                throw new ArgumentOutOfRangeException(nameof(ids), id, $"Token id {id} is outside the vocabulary (0 to {_vocabulary.Count - 1}).");
            foreach (char c in _vocabulary.Tokens[id])
            {
                int b = ByteLevelAlphabet.CharToByte(c);
                if (b >= 0)
                {
                    bytes.Add((byte)b);
                }
                else
                {
                    // Not a byte symbol (only possible in a hand-made vocabulary): keep the character itself.
                    int n = new Rune(char.IsSurrogate(c) ? '\uFFFD' : c).EncodeToUtf8(utf8);
                    for (int k = 0; k < n; k++) bytes.Add(utf8[k]);
                }
            }
        }
        string text = Encoding.UTF8.GetString(bytes.ToArray());
        return text.Replace(ClipVocabulary.EndOfWordSuffix, " ", StringComparison.Ordinal).Trim(' ');
    }

    /// <summary>The CLIP tokenizer saved as <c>vocab.json</c> and <c>merges.txt</c> (<see cref="Save(Stream, Stream)"/>).</summary>
    internal override IReadOnlyList<(string Name, byte[] Content)> SaveFiles()
    {
        using var vocab = new MemoryStream();
        using var merges = new MemoryStream();
        Save(vocab, merges);
        return [(VocabFile, vocab.ToArray()), (MergesFile, merges.ToArray())];
    }

    /// <summary>Reads the files of <see cref="SaveFiles"/> back.</summary>
    internal static ClipTokenizer FromSavedFiles(Func<string, byte[]> read, string source) =>
        FromHuggingFace(new MemoryStream(read(VocabFile)), new MemoryStream(read(MergesFile)), source + VocabFile, source + MergesFile);

    /// <summary>Hugging Face's name of the vocabulary file.</summary>
    internal const string VocabFile = "vocab.json";

    /// <summary>Hugging Face's name of the merges file.</summary>
    internal const string MergesFile = "merges.txt";
}
