using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Diagnostics;
using System.Linq;
using System.Runtime.ExceptionServices;
using System.Runtime.InteropServices;
using System.Text;
using System.Threading.Tasks;

namespace Microsoft.ML.Clip.Tokenization;

/// <summary>
/// Learns a CLIP-style byte-level BPE vocabulary from captions, for training CLIP from scratch without OpenAI's
/// vocabulary file. The result is an ordinary <see cref="ClipTokenizer"/>: it can be saved with
/// <see cref="ClipTokenizer.Save(System.IO.Stream, System.IO.Stream)"/> and read back with
/// <see cref="ClipTokenizer.FromHuggingFace(System.IO.Stream, System.IO.Stream, string, string)"/>.
/// </summary>
/// <remarks>
/// <para>The conventions are CLIP's. Captions are cleaned (<see cref="ClipTextCleaner"/>) and split into words by the
/// same pre-tokenizer as encoding; each word becomes its UTF-8 bytes as GPT-2's byte symbols, the last one carrying
/// <c>&lt;/w&gt;</c>. The vocabulary is laid out as open_clip lays out OpenAI's: the 256 byte symbols, the same 256
/// with <c>&lt;/w&gt;</c>, one token per merge in merge order, then <c>&lt;start_of_text&gt;</c> and
/// <c>&lt;end_of_text&gt;</c>. Any text therefore encodes, if need be byte by byte.</para>
/// <para>Merges are learned with Sennrich et al.'s BPE on word frequencies: each distinct word is counted once with
/// its frequency; the most frequent adjacent pair of symbols is merged everywhere, and so on, until the vocabulary is
/// full or no pair occurs <see cref="ClipBpeTrainerOptions.MinFrequency"/> times. Ties go to the pair whose left then
/// right symbol comes first in ordinal string order, so the result depends only on the multiset of captions, not on
/// their order. Pair counts are updated incrementally, touching only the words that hold the merged pair.</para>
/// <para>Each merge adds the token it forms, as CLIP's format requires (open_clip derives the vocabulary from the
/// merges). Should a pair's concatenation already be a token (a different split of the same string), the pair is
/// never merged; randomized searches never produced such a pair, so this is a guard that keeps the vocabulary valid
/// rather than a case that changes results. Encoding with the learned merges segments every training word exactly
/// as training did.</para>
/// <para>Words are counted in parallel; the special tokens' literal text in a caption is not counted.</para>
/// </remarks>
public static class ClipBpeTrainer
{
    private const int CaptionsPerChunk = 1024;

    /// <summary>Learns a vocabulary from <paramref name="captions"/> (enumerated once) and returns its tokenizer.</summary>
    /// <param name="captions">The corpus, one caption per item; null entries are skipped. It is enumerated once, in
    /// chunks taken one at a time by pool threads, so a lazily read file streams through. An empty corpus gives the
    /// 514-token byte-level tokenizer, which still encodes any text.</param>
    /// <param name="options">The settings; null for the defaults.</param>
    /// <returns>A tokenizer of at most <see cref="ClipBpeTrainerOptions.VocabularySize"/> tokens.</returns>
    /// <exception cref="ArgumentOutOfRangeException">An option is out of range.</exception>
    public static ClipTokenizer Train(IEnumerable<string?> captions, ClipBpeTrainerOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(captions);
        options ??= new ClipBpeTrainerOptions();
        options.Validate();
        var words = CountWords(captions);
        var merges = LearnMerges(words, options);
        return ClipTokenizer.FromVocabulary(ClipVocabulary.FromMerges(merges, nameof(ClipBpeTrainer)));
    }

    /// <summary>How often each pre-tokenized word of the cleaned captions occurs (special tokens left out).</summary>
    internal static Dictionary<string, long> CountWords(IEnumerable<string?> captions)
    {
        var total = new Dictionary<string, long>(StringComparer.Ordinal);
        var partials = new ConcurrentBag<Dictionary<string, long>>();
        try
        {
            // Chunks are taken one at a time (NoBuffering), so the captions stream through: memory holds the
            // distinct words, not the corpus.
            Parallel.ForEach(
                Partitioner.Create(captions.Chunk(CaptionsPerChunk), EnumerablePartitionerOptions.NoBuffering),
                () => new Dictionary<string, long>(StringComparer.Ordinal),
                (chunk, _, counts) =>
                {
                    foreach (string? caption in chunk) CountCaption(caption, counts);
                    return counts;
                },
                partials.Add);
        }
        catch (AggregateException e) when (e.InnerExceptions.Count == 1)
        {
            // An exception of the caller's enumerable (or cleaning) surfaces as itself, not wrapped.
            ExceptionDispatchInfo.Capture(e.InnerExceptions[0]).Throw();
        }

        foreach (var counts in partials)
        {
            if (total.Count == 0)
            {
                total = counts;
                continue;
            }
            foreach (var (word, count) in counts) CollectionsMarshal.GetValueRefOrAddDefault(total, word, out _) += count;
        }
        return total;
    }

    private static void CountCaption(string? caption, Dictionary<string, long> counts)
    {
        if (string.IsNullOrEmpty(caption)) return;
        // The same cleaning and pre-tokenization as ClipTokenizer.EncodeToIds, so training sees the words encoding sees.
        string cleaned = ClipTextCleaner.Clean(caption);
        if (cleaned.Length == 0) return;
        var lookup = counts.GetAlternateLookup<ReadOnlySpan<char>>();
        foreach (var (offset, length) in ClipPreTokenizer.Split(cleaned))
        {
            var word = cleaned.AsSpan(offset, length);
            // BpeTokenizer maps a word that is exactly a special token to its id; such words are not text to learn.
            if (word.SequenceEqual(ClipVocabulary.StartOfTextToken) || word.SequenceEqual(ClipVocabulary.EndOfTextToken)) continue;
            CollectionsMarshal.GetValueRefOrAddDefault(lookup, word, out _)++;
        }
    }

    /// <summary>Learns the merges, best first, from word frequencies.</summary>
    internal static (string Left, string Right)[] LearnMerges(IReadOnlyDictionary<string, long> wordCounts, ClipBpeTrainerOptions options)
    {
        ArgumentNullException.ThrowIfNull(wordCounts);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        var learner = new MergeLearner(SelectWords(wordCounts, options.MaxWordsConsidered), options.MinFrequency);
        return learner.Learn(options.VocabularySize - ClipBpeTrainerOptions.MinimumVocabularySize);
    }

    private static IReadOnlyCollection<KeyValuePair<string, long>> SelectWords(IReadOnlyDictionary<string, long> wordCounts, int? maxWords)
    {
        if (maxWords is not int max || wordCounts.Count <= max) return wordCounts.ToArray();
        var words = wordCounts.ToArray();
        Array.Sort(words, static (x, y) => x.Value != y.Value ? y.Value.CompareTo(x.Value) : string.CompareOrdinal(x.Key, y.Key));
        return words[..max];
    }

    /// <summary>
    /// BPE merging over distinct words. Symbols are ints (ids in the final vocabulary: 0..511 the byte symbols, then
    /// one per merge); a pair of symbols is a long (left &lt;&lt; 32 | right).
    /// </summary>
    private sealed class MergeLearner
    {
        private readonly int _minFrequency;
        private readonly List<string> _symbols = new();
        private readonly HashSet<string> _tokens = new(StringComparer.Ordinal);

        // Every word's symbols live in one array: word w is _arena[_starts[w] .. _starts[w] + _lengths[w]), merged in place.
        private readonly int[] _arena;
        private readonly int[] _starts;
        private readonly int[] _lengths;
        private readonly long[] _frequencies;

        private readonly Dictionary<long, long> _pairCounts = new();
        // Pair → words that held it when it appeared (may list a word twice, or a word that lost it since).
        private readonly Dictionary<long, List<int>> _wordsWithPair = new();
        // Max-heap of (count, pair); an entry whose count is no longer the pair's count is stale and skipped.
        private readonly PriorityQueue<long, (long Count, long Pair)> _queue;
        private readonly HashSet<long> _forbidden = new();

        public MergeLearner(IReadOnlyCollection<KeyValuePair<string, long>> words, int minFrequency)
        {
            _minFrequency = minFrequency;
            foreach (char c in ByteLevelAlphabet.SymbolsInVocabularyOrder) _symbols.Add(c.ToString());
            foreach (char c in ByteLevelAlphabet.SymbolsInVocabularyOrder) _symbols.Add(c + ClipVocabulary.EndOfWordSuffix);
            _tokens.UnionWith(_symbols);
            _tokens.Add(ClipVocabulary.StartOfTextToken);
            _tokens.Add(ClipVocabulary.EndOfTextToken);

            var symbolOfByte = new int[256];
            for (int i = 0; i < 256; i++) symbolOfByte[ByteLevelAlphabet.CharToByte(ByteLevelAlphabet.SymbolsInVocabularyOrder[i])] = i;

            _starts = new int[words.Count];
            _lengths = new int[words.Count];
            _frequencies = new long[words.Count];
            long totalBytes = 0;
            foreach (var (word, _) in words) totalBytes += Encoding.UTF8.GetByteCount(word);
            if (totalBytes > Array.MaxLength)
                throw new InvalidOperationException($"The {words.Count} distinct words hold {totalBytes} bytes, too many to merge; set MaxWordsConsidered.");
            _arena = new int[totalBytes];

            int w = 0, position = 0;
            byte[] buffer = new byte[64];
            foreach (var (word, frequency) in words)
            {
                int length = Encoding.UTF8.GetByteCount(word);
                if (length == 0) continue; // the pre-tokenizer yields no empty word; a caller's dictionary might
                if (length > buffer.Length) buffer = new byte[Math.Max(length, buffer.Length * 2)];
                Encoding.UTF8.GetBytes(word, buffer);
                for (int k = 0; k < length; k++) _arena[position + k] = symbolOfByte[buffer[k]];
                _arena[position + length - 1] += 256; // the same byte with </w>
                _starts[w] = position;
                _lengths[w] = length;
                _frequencies[w] = frequency;
                for (int k = 0; k + 1 < length; k++)
                {
                    long pair = Pair(_arena[position + k], _arena[position + k + 1]);
                    CollectionsMarshal.GetValueRefOrAddDefault(_pairCounts, pair, out _) += frequency;
                    AddWord(pair, w);
                }
                position += length;
                w++;
            }

            var order = new PairOrder(_symbols);
            _queue = new PriorityQueue<long, (long, long)>(
                _pairCounts.Where(p => p.Value >= _minFrequency).Select(p => (p.Key, (p.Value, p.Key))), order);
        }

        public (string Left, string Right)[] Learn(int maxMerges)
        {
            var merges = new List<(string, string)>(Math.Min(maxMerges, 1 << 16));
            var stamps = new int[_starts.Length]; // stamps[w] == merges.Count: w already merged for this merge
            var changes = new Dictionary<long, long>();
            while (merges.Count < maxMerges && _queue.TryDequeue(out long pair, out var entry))
            {
                if (!_pairCounts.TryGetValue(pair, out long count) || count != entry.Count || _forbidden.Contains(pair)) continue;
                int left = Left(pair), right = Right(pair);
                string token = _symbols[left] + _symbols[right];
                if (!_tokens.Add(token))
                {
                    _forbidden.Add(pair);
                    continue;
                }
                int merged = _symbols.Count;
                _symbols.Add(token);
                merges.Add((_symbols[left], _symbols[right]));

                var words = _wordsWithPair[pair];
                for (int i = 0; i < words.Count; i++)
                {
                    int w = words[i];
                    if (stamps[w] == merges.Count) continue;
                    stamps[w] = merges.Count;
                    MergeInWord(w, left, right, merged, changes);
                }

                foreach (var (changed, delta) in changes)
                {
                    if (delta == 0) continue;
                    ref long current = ref CollectionsMarshal.GetValueRefOrAddDefault(_pairCounts, changed, out _);
                    current += delta;
                    Debug.Assert(current >= 0);
                    if (current == 0)
                    {
                        _pairCounts.Remove(changed);
                        _wordsWithPair.Remove(changed);
                    }
                    else if (current >= _minFrequency && !_forbidden.Contains(changed))
                    {
                        _queue.Enqueue(changed, (current, changed));
                    }
                }
                changes.Clear();
                Debug.Assert(!_pairCounts.ContainsKey(pair), "A merge removes every occurrence of its pair.");
            }
            return merges.ToArray();
        }

        /// <summary>
        /// Replaces every (left, right) of word <paramref name="w"/>, left to right, by <paramref name="merged"/>, and
        /// records the change of pair counts. Only pairs with a symbol among left, right and merged can change, so
        /// only those are counted, before and after.
        /// </summary>
        private void MergeInWord(int w, int left, int right, int merged, Dictionary<long, long> changes)
        {
            var symbols = _arena.AsSpan(_starts[w], _lengths[w]);
            long frequency = _frequencies[w];
            if (!ContainsPair(symbols, left, right)) return; // lost to an earlier merge since it was listed

            for (int k = 0; k + 1 < symbols.Length; k++)
            {
                int a = symbols[k], b = symbols[k + 1];
                if (a == left || a == right || b == left || b == right)
                    CollectionsMarshal.GetValueRefOrAddDefault(changes, Pair(a, b), out _) -= frequency;
            }

            int length = 0;
            for (int k = 0; k < symbols.Length; length++)
            {
                if (k + 1 < symbols.Length && symbols[k] == left && symbols[k + 1] == right)
                {
                    symbols[length] = merged;
                    k += 2;
                }
                else
                {
                    symbols[length] = symbols[k++];
                }
            }
            _lengths[w] = length;
            symbols = symbols[..length];

            for (int k = 0; k + 1 < symbols.Length; k++)
            {
                int a = symbols[k], b = symbols[k + 1];
                if (a == merged || b == merged)
                {
                    long pair = Pair(a, b);
                    CollectionsMarshal.GetValueRefOrAddDefault(changes, pair, out _) += frequency;
                    AddWord(pair, w);
                }
                else if (a == left || a == right || b == left || b == right)
                {
                    changes[Pair(a, b)] += frequency;
                }
            }
        }

        private static bool ContainsPair(ReadOnlySpan<int> symbols, int left, int right)
        {
            for (int k = 0; k + 1 < symbols.Length; k++)
                if (symbols[k] == left && symbols[k + 1] == right) return true;
            return false;
        }

        private void AddWord(long pair, int w)
        {
            ref var words = ref CollectionsMarshal.GetValueRefOrAddDefault(_wordsWithPair, pair, out _);
            words ??= new List<int>(2);
            if (words.Count == 0 || words[^1] != w) words.Add(w);
        }

        private static long Pair(int left, int right) => (long)left << 32 | (uint)right;

        private static int Left(long pair) => (int)(pair >> 32);

        private static int Right(long pair) => (int)pair;

        /// <summary>Higher count first; equal counts in ordinal order of the left, then the right symbol.</summary>
        private sealed class PairOrder(List<string> symbols) : IComparer<(long Count, long Pair)>
        {
            public int Compare((long Count, long Pair) x, (long Count, long Pair) y)
            {
                if (x.Count != y.Count) return x.Count > y.Count ? -1 : 1;
                if (x.Pair == y.Pair) return 0;
                int order = string.CompareOrdinal(symbols[Left(x.Pair)], symbols[Left(y.Pair)]);
                return order != 0 ? order : string.CompareOrdinal(symbols[Right(x.Pair)], symbols[Right(y.Pair)]);
            }
        }
    }
}
