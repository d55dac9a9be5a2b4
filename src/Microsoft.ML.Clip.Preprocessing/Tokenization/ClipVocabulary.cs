using System;
using System.Collections.Generic;
using System.IO;
using System.IO.Compression;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;

namespace Microsoft.ML.Clip.Tokenization;

/// <summary>
/// The data of a CLIP byte-level BPE tokenizer: the tokens by id, the ranked merges and the two special tokens.
/// Reads OpenAI's <c>bpe_simple_vocab_16e6.txt.gz</c> and Hugging Face's <c>vocab.json</c> + <c>merges.txt</c>,
/// and writes the latter.
/// </summary>
/// <remarks>
/// Inside, the special tokens always carry open_clip's names (<c>&lt;start_of_text&gt;</c>,
/// <c>&lt;end_of_text&gt;</c>) whatever the file called them: the pre-tokenizer recognises those names in text, so
/// the same captions give the same ids whichever format the vocabulary came from.
/// </remarks>
internal sealed class ClipVocabulary
{
    public const string StartOfTextToken = "<start_of_text>";
    public const string EndOfTextToken = "<end_of_text>";
    public const string HuggingFaceStartOfTextToken = "<|startoftext|>";
    public const string HuggingFaceEndOfTextToken = "<|endoftext|>";
    public const string EndOfWordSuffix = "</w>";

    /// <summary>open_clip keeps lines 1..48894 of the merges file (after its header): 49152 − 256 − 2 merges.</summary>
    public const int OpenAIMergeCount = 49152 - 256 - 2;

    private const string HuggingFaceMergesHeader = "#version: 0.2";

    private readonly string[] _tokens;
    private readonly (string Left, string Right)[] _merges;

    private ClipVocabulary(string[] tokens, (string, string)[] merges, int startOfTextId, int endOfTextId)
    {
        _tokens = tokens;
        _merges = merges;
        StartOfTextId = startOfTextId;
        EndOfTextId = endOfTextId;
    }

    /// <summary>Token strings by id (byte-level symbols; special tokens under open_clip's names).</summary>
    public IReadOnlyList<string> Tokens => _tokens;

    /// <summary>Merges in rank order (rank 0 first).</summary>
    public IReadOnlyList<(string Left, string Right)> Merges => _merges;

    public int StartOfTextId { get; }

    public int EndOfTextId { get; }

    public int Count => _tokens.Length;

    /// <summary>
    /// Reads OpenAI's merges file (gzip-compressed as distributed, or already decompressed) and builds the vocabulary
    /// exactly as open_clip's <c>SimpleTokenizer</c> does.
    /// </summary>
    public static ClipVocabulary ReadOpenAIMerges(Stream stream, string source)
    {
        byte[] bytes = ReadAllBytes(stream);
        if (bytes.Length >= 2 && bytes[0] == 0x1F && bytes[1] == 0x8B)
        {
            try
            {
                using var gzip = new GZipStream(new MemoryStream(bytes), CompressionMode.Decompress);
                bytes = ReadAllBytes(gzip);
            }
            catch (InvalidDataException e)
            {
                throw new InvalidDataException($"CLIP merges file '{source}' is not a valid gzip file: {e.Message}", e);
            }
        }
        string text = DecodeUtf8(bytes, source);

        // open_clip splits on '\n' only, skips the first line (a header) and keeps the next 48894.
        var merges = new (string, string)[OpenAIMergeCount];
        var lines = new LineReader(text);
        if (!lines.TryNext(out _, out _))
            throw new InvalidDataException($"CLIP merges file '{source}' is empty.");
        for (int i = 0; i < OpenAIMergeCount; i++)
        {
            if (!lines.TryNext(out var line, out int lineNumber))
                throw new InvalidDataException(
                    $"CLIP merges file '{source}' ends after {i} merges (line {lineNumber}); the CLIP vocabulary needs {OpenAIMergeCount} " +
                    "(lines 2 to 48895).");
            merges[i] = ParseMerge(line, source, lineNumber);
        }

        return FromMerges(merges, source);
    }

    /// <summary>
    /// Builds the vocabulary from ranked merges as open_clip does: 256 byte symbols, the same with <c>&lt;/w&gt;</c>,
    /// one token per merge, then <c>&lt;start_of_text&gt;</c> and <c>&lt;end_of_text&gt;</c>. Errors name merge i as
    /// line i + 2 of <paramref name="source"/>, its line in OpenAI's file layout (a header, then the merges).
    /// </summary>
    /// <exception cref="InvalidDataException">Two merges produce the same token, or a merge joins unknown tokens.</exception>
    public static ClipVocabulary FromMerges((string Left, string Right)[] merges, string source)
    {
        var tokens = new string[256 + 256 + merges.Length + 2];
        int id = 0;
        foreach (char c in ByteLevelAlphabet.SymbolsInVocabularyOrder) tokens[id++] = c.ToString();
        foreach (char c in ByteLevelAlphabet.SymbolsInVocabularyOrder) tokens[id++] = c + EndOfWordSuffix;
        foreach (var (left, right) in merges) tokens[id++] = left + right;
        tokens[id++] = StartOfTextToken;
        tokens[id++] = EndOfTextToken;

        var ids = new Dictionary<string, int>(tokens.Length, StringComparer.Ordinal);
        for (int i = 0; i < tokens.Length; i++)
        {
            if (!ids.TryAdd(tokens[i], i))
            {
                // Python's dict(zip(vocab, ...)) would silently keep the later id; refusing is safer than guessing.
                int mergeLine = i - 512 + 2;
                throw new InvalidDataException(
                    $"CLIP merges file '{source}' line {mergeLine}: the merge produces the token '{tokens[i]}', which already has id {ids[tokens[i]]}.");
            }
        }
        CheckMerges(merges, ids, source, firstLineNumber: 2, lineNumbers: null);
        return new ClipVocabulary(tokens, merges, ids[StartOfTextToken], ids[EndOfTextToken]);
    }

    /// <summary>
    /// Reads Hugging Face's <c>vocab.json</c> (token → id) and <c>merges.txt</c> (optional <c>#version</c> header, then
    /// one "left right" merge a line, best first). The special tokens may be named either way
    /// (<c>&lt;|startoftext|&gt;</c> or <c>&lt;start_of_text&gt;</c>).
    /// </summary>
    public static ClipVocabulary ReadHuggingFace(Stream vocabJson, string vocabSource, Stream mergesTxt, string mergesSource)
    {
        string[] tokens = ReadVocabularyJson(vocabJson, vocabSource);
        var ids = new Dictionary<string, int>(tokens.Length, StringComparer.Ordinal);
        for (int i = 0; i < tokens.Length; i++) ids.Add(tokens[i], i);

        int startId = FindSpecial(ids, vocabSource, HuggingFaceStartOfTextToken, StartOfTextToken);
        int endId = FindSpecial(ids, vocabSource, HuggingFaceEndOfTextToken, EndOfTextToken);
        ids.Remove(tokens[startId]);
        ids.Remove(tokens[endId]);
        tokens[startId] = StartOfTextToken;
        tokens[endId] = EndOfTextToken;
        if (!ids.TryAdd(StartOfTextToken, startId) || !ids.TryAdd(EndOfTextToken, endId))
            throw new InvalidDataException($"CLIP vocabulary '{vocabSource}' names both special-token spellings; keep one of each.");

        // Byte-level BPE starts every word from these symbols: without them some text could not be encoded.
        foreach (char c in ByteLevelAlphabet.SymbolsInVocabularyOrder)
        {
            if (!ids.ContainsKey(c.ToString()) || !ids.ContainsKey(c + EndOfWordSuffix))
                throw new InvalidDataException(
                    $"CLIP vocabulary '{vocabSource}' lacks the byte symbol '{c}' (U+{(int)c:X4}) or '{c}{EndOfWordSuffix}': it is not a CLIP byte-level vocabulary.");
        }

        string text = DecodeUtf8(ReadAllBytes(mergesTxt), mergesSource);
        var merges = new List<(string, string)>(OpenAIMergeCount);
        var lineNumbers = new List<int>(OpenAIMergeCount);
        var lines = new LineReader(text);
        while (lines.TryNext(out var line, out int lineNumber))
        {
            if (lineNumber == 1 && line.StartsWith("#version", StringComparison.Ordinal)) continue;
            if (line.IsEmpty) continue;
            merges.Add(ParseMerge(line, mergesSource, lineNumber));
            lineNumbers.Add(lineNumber);
        }
        var mergeArray = merges.ToArray();
        CheckMerges(mergeArray, ids, mergesSource, firstLineNumber: 0, lineNumbers);
        return new ClipVocabulary(tokens, mergeArray, startId, endId);
    }

    /// <summary>
    /// Writes the vocabulary in Hugging Face's format: <c>vocab.json</c> (UTF-8 JSON object, ids in order, special
    /// tokens named <c>&lt;|startoftext|&gt;</c> / <c>&lt;|endoftext|&gt;</c>) and <c>merges.txt</c>
    /// (<c>#version: 0.2</c>, then one merge a line). Both streams stay open.
    /// </summary>
    public void WriteHuggingFace(Stream vocabJson, Stream mergesTxt)
    {
        ArgumentNullException.ThrowIfNull(vocabJson);
        ArgumentNullException.ThrowIfNull(mergesTxt);
        // Relaxed escaping keeps the byte symbols readable (as Hugging Face writes them); the JSON stays valid.
        using (var writer = new Utf8JsonWriter(vocabJson, new JsonWriterOptions { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            writer.WriteStartObject();
            for (int i = 0; i < _tokens.Length; i++)
            {
                string name = i == StartOfTextId ? HuggingFaceStartOfTextToken : i == EndOfTextId ? HuggingFaceEndOfTextToken : _tokens[i];
                writer.WriteNumber(name, i);
            }
            writer.WriteEndObject();
        }

        using var text = new StreamWriter(mergesTxt, new UTF8Encoding(encoderShouldEmitUTF8Identifier: false), bufferSize: 1 << 16, leaveOpen: true);
        text.NewLine = "\n";
        text.WriteLine(HuggingFaceMergesHeader);
        foreach (var (left, right) in _merges)
        {
            text.Write(left);
            text.Write(' ');
            text.WriteLine(right);
        }
    }

    private static string[] ReadVocabularyJson(Stream stream, string source)
    {
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(ReadAllBytes(stream));
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"CLIP vocabulary '{source}' is not valid JSON: {e.Message}", e);
        }
        using (document)
        {
            if (document.RootElement.ValueKind != JsonValueKind.Object)
                throw new InvalidDataException($"CLIP vocabulary '{source}' must be a JSON object mapping each token to its id.");
            var entries = new List<(string Token, int Id)>();
            foreach (var property in document.RootElement.EnumerateObject())
            {
                if (property.Value.ValueKind != JsonValueKind.Number || !property.Value.TryGetInt32(out int id))
                    throw new InvalidDataException($"CLIP vocabulary '{source}': the id of token '{property.Name}' is not an integer.");
                entries.Add((property.Name, id));
            }
            if (entries.Count == 0)
                throw new InvalidDataException($"CLIP vocabulary '{source}' is empty.");

            // Ids index the model's embedding table, so they must be exactly 0..n-1.
            var tokens = new string?[entries.Count];
            foreach (var (token, id) in entries)
            {
                if ((uint)id >= (uint)tokens.Length)
                    throw new InvalidDataException(
                        $"CLIP vocabulary '{source}': token '{token}' has id {id}; the {tokens.Length} ids must be 0 to {tokens.Length - 1}.");
                if (tokens[id] is not null)
                    throw new InvalidDataException($"CLIP vocabulary '{source}': tokens '{tokens[id]}' and '{token}' share id {id}.");
                tokens[id] = token;
            }
            return tokens!;
        }
    }

    private static int FindSpecial(Dictionary<string, int> ids, string source, string huggingFaceName, string openClipName)
    {
        if (ids.TryGetValue(huggingFaceName, out int id) || ids.TryGetValue(openClipName, out id)) return id;
        throw new InvalidDataException($"CLIP vocabulary '{source}' has no '{huggingFaceName}' (or '{openClipName}') token.");
    }

    private static (string, string) ParseMerge(ReadOnlySpan<char> line, string source, int lineNumber)
    {
        int space = line.IndexOf(' ');
        if (space <= 0 || space == line.Length - 1 || line[(space + 1)..].Contains(' '))
            throw new InvalidDataException(
                $"CLIP merges file '{source}' line {lineNumber}: expected two symbols separated by one space, found '{Shorten(line)}'.");
        return (line[..space].ToString(), line[(space + 1)..].ToString());
    }

    /// <summary>Every merge must join two known tokens into a known token, or BPE could produce ids the model lacks.</summary>
    private static void CheckMerges((string Left, string Right)[] merges, Dictionary<string, int> ids, string source, int firstLineNumber, List<int>? lineNumbers)
    {
        for (int i = 0; i < merges.Length; i++)
        {
            var (left, right) = merges[i];
            string? missing = !ids.ContainsKey(left) ? left : !ids.ContainsKey(right) ? right : !ids.ContainsKey(left + right) ? left + right : null;
            if (missing is not null)
            {
                int line = lineNumbers?[i] ?? firstLineNumber + i;
                throw new InvalidDataException($"CLIP merges file '{source}' line {line}: the token '{missing}' is not in the vocabulary.");
            }
        }
    }

    private static string DecodeUtf8(byte[] bytes, string source)
    {
        try
        {
            var span = bytes.AsSpan();
            if (span.StartsWith((ReadOnlySpan<byte>)[0xEF, 0xBB, 0xBF])) span = span[3..];
            return new UTF8Encoding(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true).GetString(span);
        }
        catch (DecoderFallbackException e)
        {
            throw new InvalidDataException($"CLIP tokenizer file '{source}' is not valid UTF-8: {e.Message}", e);
        }
    }

    private static byte[] ReadAllBytes(Stream stream)
    {
        ArgumentNullException.ThrowIfNull(stream);
        using var buffer = new MemoryStream();
        stream.CopyTo(buffer);
        return buffer.ToArray();
    }

    private static string Shorten(ReadOnlySpan<char> line) => line.Length <= 80 ? line.ToString() : string.Concat(line[..80], "...");

    /// <summary>
    /// Splits on '\n' like Python's <c>split('\n')</c>, except that a final '\n' ends the last line instead of
    /// starting an empty one; drops one trailing '\r' per line.
    /// </summary>
    private ref struct LineReader(string text)
    {
        private int _position;
        private int _lineNumber;

        public bool TryNext(out ReadOnlySpan<char> line, out int lineNumber)
        {
            lineNumber = ++_lineNumber;
            if (_position >= text.Length)
            {
                line = default;
                return false;
            }
            int end = text.IndexOf('\n', _position);
            if (end < 0) end = text.Length;
            line = text.AsSpan(_position, end - _position);
            if (line.EndsWith('\r')) line = line[..^1];
            _position = end + 1;
            return true;
        }
    }
}
