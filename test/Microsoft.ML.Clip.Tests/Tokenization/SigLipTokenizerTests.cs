using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text.Json;
using Microsoft.ML.Clip.Tokenization;
using Xunit;

namespace Microsoft.ML.Clip.Tests.Tokenization;

/// <summary>
/// SigLIP's SentencePiece tokenizer against SentencePiece's own encodings: the shared fixture's T5-style Unigram
/// <c>spiece.model</c> (open_clip's canonicalize, then SentencePiece), and a Gemma-style BPE <c>tokenizer.model</c> made
/// with SentencePiece's trainer and Gemma's trainer options (TestData/tokenizers/make_gemma_like.py).
/// </summary>
public class SigLipTokenizerTests
{
    internal static string GemmaLikeFolder => Path.Combine(AppContext.BaseDirectory, "TestData", "tokenizers", "gemma-like");

    internal static string GemmaLikeModel => Path.Combine(GemmaLikeFolder, "tokenizer.model");

    internal static string SpieceModel => Fixtures.Path("family", "siglip-tokenizer", "spiece.model");

    internal static IReadOnlyList<(string Text, string Canonical, int[] Ids)> Cases(string path) =>
        File.ReadLines(path).Where(l => l.Length > 0).Select(line =>
        {
            using var doc = JsonDocument.Parse(line);
            var root = doc.RootElement;
            return (root.GetProperty("text").GetString()!, root.GetProperty("canonical").GetString()!,
                root.GetProperty("piece_ids").EnumerateArray().Select(e => e.GetInt32()).ToArray());
        }).ToList();

    [Trait("Category", "Fixtures")]
    [FixtureFact]
    public void SpieceModelMatchesSentencePieceOnEveryFixtureCase()
    {
        var tokenizer = SigLipTokenizer.FromSpieceModel(SpieceModel);
        var cases = Cases(Fixtures.Path("family", "siglip-tokenizer", "cases.jsonl"));
        Assert.Equal(71, cases.Count);
        foreach (var (text, canonical, ids) in cases)
        {
            Assert.Equal(canonical, ClipTextCleaner.Clean(text, ClipTextCleaning.Canonicalize));
            Assert.Equal(ids, tokenizer.EncodeToIds(text));
        }
    }

    [Trait("Category", "Fixtures")]
    [FixtureFact]
    public void SpieceRowsEndWithEosAndArePaddedWithIt()
    {
        // The fixture model: pad 0 <pad>, eos 1 </s>, unk 2, no bos; SigLIP pads with </s>.
        var tokenizer = SigLipTokenizer.FromSpieceModel(SpieceModel);
        Assert.Equal((256, 1, 1, (int?)null), (tokenizer.VocabularySize, tokenizer.EndOfTextId, tokenizer.PadId, tokenizer.StartOfTextId));
        Assert.False(tokenizer.IsBpe);
        Assert.Equal(SigLipTokenizer.KindName, tokenizer.Kind);
        Assert.Equal(ClipTextCleaning.Canonicalize, tokenizer.Cleaning);

        int[] cat = [215, 21, 253, 251, 253, 170, 215, 255, 242, 249, 251]; // "a photo of a cat" in cases.jsonl
        var row = tokenizer.Encode("A photo of a cat!", 16);
        Assert.Equal([.. cat, 1, 1, 1, 1, 1], row);
        Assert.Equal(Enumerable.Repeat(1, 4), tokenizer.Encode("", 4));
        Assert.Equal(Enumerable.Repeat(1, 4), tokenizer.Encode(null, 4));
        Assert.Equal(Enumerable.Repeat(1, 4), tokenizer.Encode("?!", 4)); // nothing left after canonicalize
        // Hugging Face's truncation: the first context − 1 ids, then eos.
        Assert.Equal([.. cat[..7], 1], tokenizer.Encode("a photo of a cat", 8));
        Assert.Equal([1], tokenizer.Encode("a photo of a cat", 1));
        Assert.Throws<ArgumentOutOfRangeException>(() => tokenizer.Encode("x", 0));
        Assert.Equal("a photo of a cat", tokenizer.Decode(row));

        var batch = tokenizer.EncodeBatchToIds(["a photo of a cat", null], 12);
        Assert.Equal(tokenizer.Encode("a photo of a cat", 12).Select(i => (long)i).Concat(Enumerable.Repeat(1L, 12)), batch);
    }

    [Fact]
    public void GemmaModelMatchesSentencePieceOnEveryCase()
    {
        var tokenizer = SigLipTokenizer.FromGemmaModel(GemmaLikeModel);
        Assert.True(tokenizer.IsBpe);
        var cases = Cases(Path.Combine(GemmaLikeFolder, "cases.jsonl"));
        Assert.Equal(52, cases.Count);
        foreach (var (text, canonical, ids) in cases)
        {
            Assert.Equal(canonical, ClipTextCleaner.Clean(text, ClipTextCleaning.Canonicalize));
            Assert.Equal(ids, tokenizer.EncodeToIds(text));
        }
    }

    [Fact]
    public void GemmaRowsEndWithEosAndArePaddedWithPad()
    {
        // Gemma's ids: pad 0, eos 1, bos 2 (never emitted: add_bos_token=False), unk 3.
        var tokenizer = SigLipTokenizer.FromGemmaModel(GemmaLikeModel);
        Assert.Equal((600, 1, 0), (tokenizer.VocabularySize, tokenizer.EndOfTextId, tokenizer.PadId));
        var ids = tokenizer.EncodeToIds("a photo of a cat");
        Assert.Equal([573, 344, 361, 288, 352], ids); // cases.jsonl
        Assert.Equal([.. ids, 1, 0, 0], tokenizer.Encode("a photo of a cat", 8));
        Assert.Equal([573, 344, 1], tokenizer.Encode("a photo of a cat", 3));
        Assert.Equal("a photo of a cat", tokenizer.Decode(tokenizer.Encode("a photo of a cat", 8)));
        // Byte fallback: characters outside the vocabulary come back whole.
        Assert.Equal("emoji 😀 mix", tokenizer.Decode(tokenizer.EncodeToIds("Emoji 😀 mix!")));
    }

    [Fact]
    public void ControlPiecesAreNeverProducedFromText()
    {
        // "<mask>" and "[multimodal]" are control pieces of the Gemma-style model, "<start_of_turn>" a user-defined one:
        // canonicalize removes their punctuation first, so only ordinary pieces remain.
        var tokenizer = SigLipTokenizer.FromGemmaModel(GemmaLikeModel);
        foreach (var text in new[] { "<mask>", "[multimodal]", "<eos>", "<pad>", "<bos>" })
            Assert.All(tokenizer.EncodeToIds(text), id => Assert.True(id > 6, $"'{text}' gave special id {id}"));
    }

    [Fact]
    public void CanonicalizeFollowsOpenClip()
    {
        // html.unescape twice, '_' → ' ', ASCII punctuation removed, Python's lower, whitespace collapsed.
        Assert.Equal("tom jerry", ClipTextCleaner.Clean("Tom &amp;amp; Jerry", ClipTextCleaning.Canonicalize));
        Assert.Equal("a b c", ClipTextCleaner.Clean("a_b__c", ClipTextCleaning.Canonicalize));
        Assert.Equal("its 314", ClipTextCleaner.Clean("it's 3.14!", ClipTextCleaning.Canonicalize));
        Assert.Equal("¿qué… — sí", ClipTextCleaner.Clean("¿Qué… — Sí?", ClipTextCleaning.Canonicalize)); // not string.punctuation
        Assert.Equal("", ClipTextCleaner.Clean(" !?\t\u3000", ClipTextCleaning.Canonicalize));
        Assert.Equal("A B", ClipTextCleaner.Clean(" A  B ", ClipTextCleaning.Whitespace));
        Assert.Equal("Tom & Jerry", ClipTextCleaner.Clean("  Tom &amp; \n Jerry ", ClipTextCleaning.Whitespace));
        Assert.Equal("tom & jerry", ClipTextCleaner.Clean("  Tom &amp; \n Jerry ", ClipTextCleaning.Lower));
    }

    [Fact]
    public void ModelFilesThatAreNotSentencePieceAreRefusedByName()
    {
        using var temp = new TempDirectory();
        string path = temp.File("spiece.model");
        File.WriteAllBytes(path, [0x0A, 0x7F, 0x01]); // a field claiming 127 bytes that are not there
        var error = Assert.Throws<InvalidDataException>(() => SigLipTokenizer.FromSpieceModel(path));
        Assert.Contains(path, error.Message);
        File.WriteAllText(path, "");
        Assert.Contains("holds no SentencePiece pieces", Assert.Throws<InvalidDataException>(() => SigLipTokenizer.FromSpieceModel(path)).Message);
    }

    [Fact]
    public void TokenizersAreSafeToShareAcrossThreads()
    {
        var tokenizer = SigLipTokenizer.FromGemmaModel(GemmaLikeModel);
        var texts = Cases(Path.Combine(GemmaLikeFolder, "cases.jsonl")).Select(c => c.Text).ToArray();
        var serial = texts.Select(t => tokenizer.Encode(t, 64)).ToArray();
        var parallel = new int[texts.Length][];
        System.Threading.Tasks.Parallel.For(0, texts.Length * 8, i => parallel[i % texts.Length] = tokenizer.Encode(texts[i % texts.Length], 64));
        Assert.Equal(serial, parallel);
    }
}
