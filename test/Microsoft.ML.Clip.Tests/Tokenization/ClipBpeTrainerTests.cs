using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Text;
using Microsoft.ML.Clip.Tokenization;
using Xunit;
using Xunit.Abstractions;

namespace Microsoft.ML.Clip.Tests.Tokenization;

public sealed class ClipBpeTrainerTests(ITestOutputHelper output)
{
    // Sennrich et al.'s example: low ×5, lower ×2, newest ×6, widest ×3.
    private static readonly string[] ToyCorpus =
    [
        .. Enumerable.Repeat("low", 5), .. Enumerable.Repeat("lower", 2), .. Enumerable.Repeat("newest", 6), .. Enumerable.Repeat("widest", 3),
    ];

    private static readonly string[] UnseenTexts =
    [
        "a zebra juggling quinces",
        "Ünïcödé naïve café — 東京 タワー 🙂🐈‍⬛ 𝐀𝐁𝐂 ﷺ",
        "   tabs\tand\nnewlines  &amp;  entities &lt;b&gt;  ",
        "lower-case, UPPER CASE! 12345 don't we'll",
        "\u0000\u0001 control \u007f chars \u00ad soft hyphen \u0345 ypogegrammeni",
        "lone \uD800 surrogate",
    ];

    [Fact]
    public void FirstMergesAreTheHandComputedOnes()
    {
        var tokenizer = ClipBpeTrainer.Train(ToyCorpus);

        // Worked out by hand. Start: e s 9, s t</w> 9, w e 8, l o 7, n e 6, e w 6, o w</w> 5, w i 3, i d 3, d e 3,
        // o w 2, e r</w> 2. "e s" wins the tie with "s t</w>" (ordinal order); once "newest" is n e w es t</w>, "w e"
        // is down to 2 (lower), and so on; ties always go to the ordinally smaller pair.
        (string, string)[] expected =
        [
            ("e", "s"), ("es", "t</w>"), ("l", "o"), ("e", "w"), ("ew", "est</w>"), ("n", "ewest</w>"), ("lo", "w</w>"),
            ("d", "est</w>"), ("i", "dest</w>"), ("w", "idest</w>"), ("e", "r</w>"), ("lo", "w"), ("low", "er</w>"),
        ];
        Assert.Equal(expected, tokenizer.Vocabulary.Merges);
        Assert.Equal(expected, ReadMerges(tokenizer));
        Assert.Equal(514 + expected.Length, tokenizer.VocabularySize);
        Assert.Equal(512 + expected.Length, tokenizer.StartOfTextId);
        Assert.Equal(513 + expected.Length, tokenizer.EndOfTextId);

        // Every corpus word is one token; an unseen word is built from the learned pieces: l o w e s t</w> →
        // l o w es t</w> → l o w est</w> → lo w est</w> → low est</w>.
        Assert.Equal(new[] { TokenId(tokenizer, "newest</w>") }, tokenizer.EncodeToIds("newest"));
        Assert.Equal(new[] { TokenId(tokenizer, "low"), TokenId(tokenizer, "est</w>") }, tokenizer.EncodeToIds("lowest"));
        Assert.Equal("lowest widest", tokenizer.Decode(tokenizer.Encode("Lowest WIDEST", ClipTokenizer.DefaultContextLength)));
    }

    [Fact]
    public void MinFrequencyStopsMerging()
    {
        var tokenizer = ClipBpeTrainer.Train(ToyCorpus, new ClipBpeTrainerOptions { MinFrequency = 7 });
        Assert.Equal(new[] { ("e", "s"), ("es", "t</w>"), ("l", "o") }, tokenizer.Vocabulary.Merges);

        var all = ClipBpeTrainer.Train(ToyCorpus, new ClipBpeTrainerOptions { MinFrequency = 1 });
        Assert.Equal(13, all.Vocabulary.Merges.Count); // every word is already one token: nothing left to merge
    }

    [Fact]
    public void MatchesAStraightforwardBpeOnAGeneratedCorpus()
    {
        var captions = GenerateCaptions(3000, seed: 7, lexiconSize: 800);
        var options = new ClipBpeTrainerOptions { VocabularySize = 514 + 400, MinFrequency = 3 };
        var tokenizer = ClipBpeTrainer.Train(captions, options);
        var (expected, segmentations) = ReferenceBpe(captions, maxMerges: 400, options.MinFrequency);
        Assert.Equal(expected, tokenizer.Vocabulary.Merges);

        // Encoding splits every corpus word exactly as training left it.
        Assert.True(segmentations.Count > 500);
        foreach (var (word, symbols) in segmentations)
            Assert.Equal(symbols, tokenizer.EncodeToIds(word).Select(id => tokenizer.Vocabulary.Tokens[id]));
    }

    [Fact]
    public void FrequentWordsBecomeSingleTokens()
    {
        var captions = GenerateCaptions(2000, seed: 1, lexiconSize: 500).ToList();
        for (int i = 0; i < 1000; i++) captions.Add(i % 2 == 0 ? "A photograph of things" : "photograph");
        var tokenizer = ClipBpeTrainer.Train(captions, new ClipBpeTrainerOptions { VocabularySize = 2048 });

        var row = tokenizer.Encode("Photograph", ClipTokenizer.DefaultContextLength);
        Assert.Equal(tokenizer.StartOfTextId, row[0]);
        Assert.Equal(tokenizer.EndOfTextId, row[2]);
        Assert.All(row.Skip(3), id => Assert.Equal(0, id));
        Assert.Equal("photograph</w>", tokenizer.Vocabulary.Tokens[row[1]]);
        Assert.InRange(row[1], 512, tokenizer.StartOfTextId!.Value - 1);
        Assert.Equal("photograph", tokenizer.Decode(row));
    }

    [Fact]
    public void SavedAndReloadedTokenizerGivesTheSameIds()
    {
        var captions = GenerateCaptions(3000, seed: 2, lexiconSize: 1000);
        var tokenizer = ClipBpeTrainer.Train(captions, new ClipBpeTrainerOptions { VocabularySize = 1500 });
        var (vocab, merges) = SaveToBytes(tokenizer);
        var reloaded = ClipTokenizer.FromHuggingFace(new MemoryStream(vocab), new MemoryStream(merges));

        Assert.Equal(tokenizer.VocabularySize, reloaded.VocabularySize);
        Assert.Equal(tokenizer.StartOfTextId, reloaded.StartOfTextId);
        Assert.Equal(tokenizer.EndOfTextId, reloaded.EndOfTextId);
        foreach (string text in captions.Take(500).Concat(UnseenTexts).Append("<start_of_text> literal <end_of_text> tokens"))
            Assert.Equal(tokenizer.Encode(text, ClipTokenizer.DefaultContextLength), reloaded.Encode(text, ClipTokenizer.DefaultContextLength));
        var (vocabAgain, mergesAgain) = SaveToBytes(reloaded);
        Assert.Equal(vocab, vocabAgain);
        Assert.Equal(merges, mergesAgain);
    }

    [Fact]
    public void DecodeOfEncodeGivesTheCleanedWords()
    {
        var captions = GenerateCaptions(3000, seed: 3, lexiconSize: 1000);
        var tokenizer = ClipBpeTrainer.Train(captions, new ClipBpeTrainerOptions { VocabularySize = 1200 });
        var random = new Random(11);
        var randomTexts = Enumerable.Range(0, 200).Select(_ => RandomUnicode(random, random.Next(1, 40)));

        foreach (string text in captions.Take(300).Concat(UnseenTexts).Concat(randomTexts))
        {
            string cleaned = ClipTextCleaner.Clean(text);
            // Decode puts one space between words, so it gives the cleaned text with words split by the pre-tokenizer.
            string words = string.Join(" ", ClipPreTokenizer.Split(cleaned).Select(r => cleaned.Substring(r.Offset, r.Length)));
            var ids = tokenizer.EncodeToIds(text);
            Assert.All(ids, id => Assert.InRange(id, 0, tokenizer.StartOfTextId!.Value - 1));
            Assert.Equal(words, tokenizer.Decode(ids));
        }
        // Space-separated captions (as generated) come back exactly cleaned.
        foreach (string text in captions.Take(300))
            Assert.Equal(ClipTextCleaner.Clean(text), tokenizer.Decode(tokenizer.Encode(text, contextLength: 200)));
    }

    [Fact]
    public void VocabularySizeIsAnUpperBound()
    {
        var captions = GenerateCaptions(3000, seed: 4, lexiconSize: 1000);
        foreach (int size in new[] { 514, 515, 600, 1000 })
        {
            var tokenizer = ClipBpeTrainer.Train(captions, new ClipBpeTrainerOptions { VocabularySize = size });
            Assert.Equal(size, tokenizer.VocabularySize); // this corpus has more than enough frequent pairs
            Assert.Equal(size - 514, tokenizer.Vocabulary.Merges.Count);
            Assert.Equal(size - 2, tokenizer.StartOfTextId);
            Assert.Equal(size - 1, tokenizer.EndOfTextId);
        }
        var toy = ClipBpeTrainer.Train(ToyCorpus, new ClipBpeTrainerOptions { VocabularySize = 100_000 });
        Assert.Equal(514 + 13, toy.VocabularySize); // ran out of pairs first
    }

    [Fact]
    public void TheCorpusOrderDoesNotMatter()
    {
        var captions = GenerateCaptions(5000, seed: 5, lexiconSize: 2000);
        var shuffled = captions.ToArray();
        new Random(99).Shuffle(shuffled);
        var options = new ClipBpeTrainerOptions { VocabularySize = 2000 };
        var first = SaveToBytes(ClipBpeTrainer.Train(captions, options));
        var second = SaveToBytes(ClipBpeTrainer.Train(shuffled, options));
        var third = SaveToBytes(ClipBpeTrainer.Train(captions, options));
        Assert.Equal(first.Vocab, second.Vocab);
        Assert.Equal(first.Merges, second.Merges);
        Assert.Equal(first.Vocab, third.Vocab);
        Assert.Equal(first.Merges, third.Merges);
    }

    [Fact]
    public void AnEmptyCorpusGivesTheByteLevelTokenizer()
    {
        foreach (var corpus in new[] { Array.Empty<string?>(), new string?[] { null, "", "   ", "&nbsp;", "<end_of_text>" } })
        {
            var tokenizer = ClipBpeTrainer.Train(corpus);
            Assert.Equal(514, tokenizer.VocabularySize);
            Assert.Empty(tokenizer.Vocabulary.Merges);
            Assert.Equal(512, tokenizer.StartOfTextId);
            Assert.Equal(513, tokenizer.EndOfTextId);

            // One id per UTF-8 byte, the last of each word from the </w> half.
            Assert.Equal(new[] { 'c' - '!', 'a' - '!', 't' - '!' + 256 }, tokenizer.EncodeToIds("Cat"));
            foreach (string text in UnseenTexts)
            {
                string cleaned = ClipTextCleaner.Clean(text);
                string words = string.Join(" ", ClipPreTokenizer.Split(cleaned).Select(r => cleaned.Substring(r.Offset, r.Length)));
                var ids = tokenizer.EncodeToIds(text);
                Assert.Equal(Encoding.UTF8.GetByteCount(words.Replace(" ", "")), ids.Count);
                Assert.Equal(words, tokenizer.Decode(ids));
            }

            var (vocab, merges) = SaveToBytes(tokenizer);
            var reloaded = ClipTokenizer.FromHuggingFace(new MemoryStream(vocab), new MemoryStream(merges));
            Assert.Equal(514, reloaded.VocabularySize);
            Assert.Equal(tokenizer.Encode(UnseenTexts[1], ClipTokenizer.DefaultContextLength), reloaded.Encode(UnseenTexts[1], ClipTokenizer.DefaultContextLength));
        }
    }

    [Fact]
    public void SpecialTokenTextIsNotLearned()
    {
        var captions = Enumerable.Repeat("<start_of_text> cat <end_of_text>", 50).ToArray();
        var tokenizer = ClipBpeTrainer.Train(captions);
        // "a t</w>" and "c a" both occur 50 times; "a" comes first.
        Assert.Equal(new[] { ("a", "t</w>"), ("c", "at</w>") }, tokenizer.Vocabulary.Merges);
        Assert.Equal(516, tokenizer.VocabularySize);
        Assert.Equal(new[] { tokenizer.StartOfTextId!.Value, 513, tokenizer.EndOfTextId }, tokenizer.EncodeToIds(captions[0]));
    }

    [Fact]
    public void MaxWordsConsideredKeepsTheMostFrequentWords()
    {
        var tokenizer = ClipBpeTrainer.Train(ToyCorpus, new ClipBpeTrainerOptions { MaxWordsConsidered = 1 });
        // Only "newest" (×6): five merges rebuild it, every pair at 6, so in ordinal order: n e w e s t</w> →
        // n e w es t</w> → n ew es t</w> → n ew est</w> → n ewest</w> → newest</w>.
        Assert.Equal(new[] { ("e", "s"), ("e", "w"), ("es", "t</w>"), ("ew", "est</w>"), ("n", "ewest</w>") }, tokenizer.Vocabulary.Merges);
    }

    [Fact]
    public void OptionsAreValidated()
    {
        Assert.Throws<ArgumentNullException>(() => ClipBpeTrainer.Train(null!));
        Assert.Throws<ArgumentOutOfRangeException>(() => ClipBpeTrainer.Train(ToyCorpus, new ClipBpeTrainerOptions { VocabularySize = 513 }));
        Assert.Throws<ArgumentOutOfRangeException>(() => ClipBpeTrainer.Train(ToyCorpus, new ClipBpeTrainerOptions { MinFrequency = 0 }));
        Assert.Throws<ArgumentOutOfRangeException>(() => ClipBpeTrainer.Train(ToyCorpus, new ClipBpeTrainerOptions { MaxWordsConsidered = 0 }));
    }

    [Fact]
    public void TheCaptionsAreStreamedOnceAndTheirExceptionsSurface()
    {
        int enumerations = 0;
        IEnumerable<string?> Captions()
        {
            enumerations++;
            foreach (var caption in ToyCorpus) yield return caption;
        }
        Assert.Equal(13, ClipBpeTrainer.Train(Captions()).Vocabulary.Merges.Count);
        Assert.Equal(1, enumerations);

        IEnumerable<string?> Failing()
        {
            for (int i = 0; i < 5000; i++) yield return "a caption";
            throw new IOException("disk gone");
        }
        var e = Assert.Throws<IOException>(() => ClipBpeTrainer.Train(Failing()));
        Assert.Equal("disk gone", e.Message);
    }

    [Fact]
    public void HundredThousandCaptionsTrainQuickly()
    {
        var captions = GenerateCaptions(100_000, seed: 6, lexiconSize: 30_000);
        var stopwatch = Stopwatch.StartNew();
        var counts = ClipBpeTrainer.CountWords(captions);
        var counted = stopwatch.Elapsed;
        var tokenizer = ClipBpeTrainer.Train(captions, new ClipBpeTrainerOptions { VocabularySize = 8192 });
        var total = stopwatch.Elapsed;
        output.WriteLine($"100k captions, {counts.Count} distinct words: counting {counted.TotalSeconds:F2} s, " +
                         $"counting + {tokenizer.Vocabulary.Merges.Count} merges {(total - counted).TotalSeconds:F2} s");
        Assert.Equal(8192, tokenizer.VocabularySize);
        Assert.True(total < TimeSpan.FromSeconds(60), $"Training took {total}.");
    }

    private static int TokenId(ClipTokenizer tokenizer, string token) => tokenizer.Vocabulary.Tokens.ToList().IndexOf(token);

    private static (string, string)[] ReadMerges(ClipTokenizer tokenizer)
    {
        var (_, merges) = SaveToBytes(tokenizer);
        var lines = Encoding.UTF8.GetString(merges).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal("#version: 0.2", lines[0]);
        return lines.Skip(1).Select(l => l.Split(' ')).Select(p => (p[0], p[1])).ToArray();
    }

    private static (byte[] Vocab, byte[] Merges) SaveToBytes(ClipTokenizer tokenizer)
    {
        using var vocab = new MemoryStream();
        using var merges = new MemoryStream();
        tokenizer.Save(vocab, merges);
        return (vocab.ToArray(), merges.ToArray());
    }

    /// <summary>
    /// Captions of 4 to 15 words drawn with Zipf frequencies from a lexicon of made-up words, with some capitals,
    /// punctuation and numbers; words are separated by single spaces.
    /// </summary>
    internal static string[] GenerateCaptions(int count, int seed, int lexiconSize)
    {
        var random = new Random(seed);
        string[] syllables = ["ka", "to", "ri", "an", "el", "mo", "su", "ne", "pha", "gra", "st", "qu", "ing", "er", "on", "the", "cat", "dog", "ph", "oto", "é", "ü"];
        var lexicon = new string[lexiconSize];
        for (int i = 0; i < lexiconSize; i++)
        {
            var word = new StringBuilder();
            int parts = 1 + random.Next(4);
            for (int k = 0; k < parts; k++) word.Append(syllables[random.Next(syllables.Length)]);
            lexicon[i] = word.ToString();
        }
        var cumulative = new double[lexiconSize];
        double sum = 0;
        for (int i = 0; i < lexiconSize; i++) cumulative[i] = sum += 1.0 / (i + 1);

        var captions = new string[count];
        var caption = new StringBuilder();
        for (int c = 0; c < count; c++)
        {
            caption.Clear();
            int words = 4 + random.Next(12);
            for (int k = 0; k < words; k++)
            {
                if (k > 0) caption.Append(' ');
                int index = Array.BinarySearch(cumulative, random.NextDouble() * sum);
                string word = lexicon[Math.Min(index < 0 ? ~index : index, lexiconSize - 1)];
                int kind = random.Next(40);
                caption.Append(kind switch
                {
                    0 => word.ToUpperInvariant(),
                    1 => char.ToUpperInvariant(word[0]) + word[1..],
                    2 => ",",
                    3 => random.Next(10).ToString(),
                    _ => word,
                });
            }
            caption.Append(random.Next(3) == 0 ? " ." : "");
            captions[c] = caption.ToString();
        }
        return captions;
    }

    private static string RandomUnicode(Random random, int length)
    {
        var text = new StringBuilder();
        for (int i = 0; i < length; i++)
        {
            int codePoint = random.Next(6) switch
            {
                0 => ' ',
                1 => random.Next(0x20, 0x7F),
                2 => random.Next(0x80, 0x800),
                3 => random.Next(0x800, 0xD800),
                4 => random.Next(0xE000, 0x10000),
                _ => random.Next(0x10000, 0x110000),
            };
            text.Append(char.ConvertFromUtf32(codePoint));
        }
        return text.ToString();
    }

    /// <summary>
    /// BPE as written in Sennrich et al.'s paper, recounting every pair before each merge: the most frequent pair,
    /// ties in ordinal order of (left, right), pairs whose concatenation is already a token never merged.
    /// </summary>
    private static (List<(string, string)> Merges, Dictionary<string, List<string>> Segmentations) ReferenceBpe(IEnumerable<string> captions, int maxMerges, int minFrequency)
    {
        var counts = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (string caption in captions)
        {
            string cleaned = ClipTextCleaner.Clean(caption);
            foreach (var (offset, length) in ClipPreTokenizer.Split(cleaned))
            {
                string word = cleaned.Substring(offset, length);
                if (word is "<start_of_text>" or "<end_of_text>") continue;
                counts[word] = counts.GetValueOrDefault(word) + 1;
            }
        }
        var segmentations = counts.Keys.ToDictionary(word => word, word =>
        {
            var symbols = Encoding.UTF8.GetBytes(word).Select(b => ByteLevelAlphabet.ByteToChar[b].ToString()).ToList();
            symbols[^1] += "</w>";
            return symbols;
        });
        var words = counts.Select(p => (Symbols: segmentations[p.Key], Count: p.Value)).ToList();
        var tokens = new HashSet<string>(ByteLevelAlphabet.SymbolsInVocabularyOrder.Select(c => c.ToString()), StringComparer.Ordinal);
        tokens.UnionWith(ByteLevelAlphabet.SymbolsInVocabularyOrder.Select(c => c + "</w>"));
        tokens.Add("<start_of_text>");
        tokens.Add("<end_of_text>");

        var merges = new List<(string, string)>();
        while (merges.Count < maxMerges)
        {
            var pairs = new Dictionary<(string, string), long>();
            foreach (var (symbols, count) in words)
                for (int i = 0; i + 1 < symbols.Count; i++)
                    pairs[(symbols[i], symbols[i + 1])] = pairs.GetValueOrDefault((symbols[i], symbols[i + 1])) + count;
            var best = pairs
                .Where(p => p.Value >= minFrequency && !tokens.Contains(p.Key.Item1 + p.Key.Item2))
                .OrderByDescending(p => p.Value)
                .ThenBy(p => p.Key.Item1, StringComparer.Ordinal)
                .ThenBy(p => p.Key.Item2, StringComparer.Ordinal)
                .Select(p => p.Key)
                .FirstOrDefault();
            if (best.Item1 is null) break;
            merges.Add(best);
            tokens.Add(best.Item1 + best.Item2);
            foreach (var (symbols, _) in words)
            {
                for (int i = 0; i + 1 < symbols.Count; i++)
                {
                    if (symbols[i] == best.Item1 && symbols[i + 1] == best.Item2)
                    {
                        symbols[i] += symbols[i + 1];
                        symbols.RemoveAt(i + 1);
                    }
                }
            }
        }
        return (merges, segmentations);
    }
}
