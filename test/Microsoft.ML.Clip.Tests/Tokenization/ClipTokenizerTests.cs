using System;
using System.Collections.Generic;
using System.IO;
using System.IO.Compression;
using System.Linq;
using System.Text;
using System.Threading.Tasks;
using Microsoft.ML.Clip.Tokenization;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace Microsoft.ML.Clip.Tests.Tokenization;

public sealed class ClipTokenizerTests : IDisposable
{
    private const int Start = 49406, End = 49407;
    private readonly string _temp = Directory.CreateTempSubdirectory("clip-tokenizer-").FullName;

    public void Dispose() => Directory.Delete(_temp, recursive: true);

    private static ClipTokenizer Tokenizer => TokenizerFixtures.OpenAI;

    [Trait("Category", "Fixtures")]
    [FixtureFact]
    public void EncodeToIdsHasNoSpecialTokens()
    {
        // open_clip: "a photo of a cat" → 320 1125 539 320 2368.
        Assert.Equal(new[] { 320, 1125, 539, 320, 2368 }, Tokenizer.EncodeToIds("a photo of a cat"));
        Assert.Empty(Tokenizer.EncodeToIds(""));
        Assert.Empty(Tokenizer.EncodeToIds(" \t "));
    }

    [Trait("Category", "Fixtures")]
    [FixtureTheory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("   \t\n ")]
    [InlineData("&nbsp;")]
    public void EmptyTextGivesStartAndEnd(string? text)
    {
        var row = Tokenizer.Encode(text, ClipTokenizer.DefaultContextLength);
        Assert.Equal(77, row.Length);
        Assert.Equal(Start, row[0]);
        Assert.Equal(End, row[1]);
        Assert.All(row.Skip(2), id => Assert.Equal(0, id));
    }

    [Trait("Category", "Fixtures")]
    [FixtureFact]
    public void TruncationKeepsTheEndToken()
    {
        string text = string.Join(" ", Enumerable.Repeat("a photo of a cat", 30)); // 150 ids
        var ids = Tokenizer.EncodeToIds(text);
        Assert.Equal(150, ids.Count);

        var row = Tokenizer.Encode(text, ClipTokenizer.DefaultContextLength);
        Assert.Equal(77, row.Length);
        Assert.Equal(Start, row[0]);
        Assert.Equal(ids.Take(75), row.Skip(1).Take(75));
        Assert.Equal(End, row[76]);

        // Exactly full (75 ids) and one over (76 ids): the 76th id gives way to the end token.
        var seventyFive = Tokenizer.Encode(string.Join(" ", Enumerable.Repeat("a photo of a cat", 15)), ClipTokenizer.DefaultContextLength);
        Assert.Equal(ids.Take(75), seventyFive.Skip(1).Take(75));
        Assert.Equal(End, seventyFive[76]);
        var seventySix = Tokenizer.Encode(string.Join(" ", Enumerable.Repeat("a photo of a cat", 15)) + " a", ClipTokenizer.DefaultContextLength);
        Assert.Equal(seventyFive, seventySix);

        Assert.Equal(new[] { Start, End }, Tokenizer.Encode(text, contextLength: 2));
        Assert.Equal(new[] { Start, 320, End }, Tokenizer.Encode("a photo", contextLength: 3));
        Assert.Equal(new[] { Start, 320, 1125, End, 0 }, Tokenizer.Encode("a photo", contextLength: 5));
    }

    [Trait("Category", "Fixtures")]
    [FixtureFact]
    public void BatchIsAnInt64TensorOfEncodedRows()
    {
        var texts = new[] { "a photo of a cat", null, "A Photo Of A CAT!!", string.Join(" ", Enumerable.Repeat("dog", 100)) };
        using var batch = Tokenizer.EncodeBatch(texts, ClipTokenizer.DefaultContextLength);
        Assert.Equal(ScalarType.Int64, batch.dtype);
        Assert.Equal(new long[] { 4, 77 }, batch.shape);
        var data = batch.data<long>().ToArray();
        for (int i = 0; i < texts.Length; i++)
            Assert.Equal(Tokenizer.Encode(texts[i], ClipTokenizer.DefaultContextLength).Select(x => (long)x), data.Skip(i * 77).Take(77));
        Assert.Equal(new long[] { Start, 320, 1125, 539, 320, 2368, End, 0 }, data.Take(8));
        Assert.Equal(new long[] { Start, 320, 1125, 539, 320, 2368, 748, End }, data.Skip(2 * 77).Take(8));

        using var small = Tokenizer.EncodeBatch(new[] { "a photo" }, contextLength: 4);
        Assert.Equal(new long[] { 1, 4 }, small.shape);
        Assert.Equal(new long[] { Start, 320, 1125, End }, small.data<long>().ToArray());

        using var none = Tokenizer.EncodeBatch(Array.Empty<string>(), ClipTokenizer.DefaultContextLength);
        Assert.Equal(new long[] { 0, 77 }, none.shape);
    }

    [Trait("Category", "Fixtures")]
    [FixtureTheory]
    [InlineData("a photo of a cat", "a photo of a cat")]
    [InlineData("A Photo Of A CAT!!", "a photo of a cat !!")]
    [InlineData("café naïve résumé jalapeño", "café naïve résumé jalapeño")]
    [InlineData("emoji 😀🐱🚀 mix", "emoji 😀🐱🚀 mix")]
    [InlineData("it's 3.14", "it 's 3 . 1 4")]
    public void DecodeInvertsEncode(string text, string expected)
    {
        Assert.Equal(expected, Tokenizer.Decode(Tokenizer.Encode(text, ClipTokenizer.DefaultContextLength)));
        Assert.Equal(expected, Tokenizer.Decode(Tokenizer.EncodeToIds(text)));
    }

    [Trait("Category", "Fixtures")]
    [FixtureFact]
    public void DecodeRejectsUnknownIds()
    {
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => Tokenizer.Decode(new[] { 320, 49408 }));
        Assert.Contains("49408", e.Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => Tokenizer.Decode(new[] { -1 }));
    }

    [Trait("Category", "Fixtures")]
    [FixtureFact]
    public void SpecialTokenNamesInTextFollowOpenClip()
    {
        // open_clip's own names are special in text; Hugging Face's are ordinary text (fixture case 20 checks the ids).
        Assert.Equal(new[] { Start, 320, End }, Tokenizer.EncodeToIds("<start_of_text> a <END_OF_TEXT>"));
        Assert.DoesNotContain(Start, Tokenizer.EncodeToIds("<|startoftext|>"));
    }

    /// <summary>
    /// Where .NET's Regex would split differently from open_clip's (regex module) pattern: letters and digits outside
    /// the BMP, 's' matched case-insensitively by 'ſ', U+0345 in no class. Ids from open_clip's algorithm in Python.
    /// </summary>
    [Trait("Category", "Fixtures")]
    [FixtureTheory]
    [InlineData("\U0001D400\U0001D401\U0001D402 test", new[] { 15889, 222, 15889, 223, 15889, 480, 1628 })]
    [InlineData("\U00020000\U00020001 ok", new[] { 172, 254, 222, 222, 172, 254, 222, 479, 2481 })]
    [InlineData("\U0001D7D9\U0001D7DA", new[] { 6874, 253, 503, 6874, 253, 504 })]
    [InlineData("it'\u017F a dog'\u017F life", new[] { 585, 6, 129, 379, 320, 1929, 6, 129, 379, 970 })]
    [InlineData("<\u017Ftart_of_text>", new[] { 27, 129, 123, 16707, 62, 684, 62, 18169, 285 })]
    [InlineData("x\u0345y", new[] { 343, 344 })]
    public void PreTokenizerFollowsOpenClipsRegexModule(string text, int[] expected)
        => Assert.Equal(expected, Tokenizer.EncodeToIds(text));

    [Trait("Category", "Fixtures")]
    [FixtureFact]
    public void LoneSurrogatesEncodeAsReplacementCharacter()
    {
        // Python cannot encode them at all (UnicodeEncodeError); here they become U+FFFD's bytes, like '\uFFFD' itself.
        Assert.Equal(new[] { 320, 39802, 321 }, Tokenizer.EncodeToIds("a\uD800b"));
        Assert.Equal(new[] { 320, 39802, 321, 39802 }, Tokenizer.EncodeToIds("a\uDC00b\uD83D"));
        Assert.Equal(Tokenizer.EncodeToIds("\U0001F600"), Tokenizer.EncodeToIds("\uD83D\uDE00")); // pairs untouched
    }

    [Trait("Category", "Fixtures")]
    [FixtureFact]
    public void ConcurrentEncodingEqualsSerialEncoding()
    {
        var texts = TokenizerFixtures.Cases.Select(c => c.Text)
            .Concat(Enumerable.Range(0, 400).Select(i => $"caption {i} with word{i * 7919 % 1000} and &amp; ΟΔΟΣ {i % 13}"))
            .ToArray();
        var fresh = ClipTokenizer.FromOpenAIMergesFile(Fixtures.VocabularyPath); // empty word cache
        var serial = texts.Select(t => Tokenizer.Encode(t, ClipTokenizer.DefaultContextLength)).ToArray();

        var results = new int[8][][];
        Parallel.For(0, 8, new ParallelOptions { MaxDegreeOfParallelism = 8 }, worker =>
        {
            // Each worker walks the texts from a different offset so that cache fills race.
            results[worker] = new int[texts.Length][];
            for (int k = 0; k < texts.Length; k++)
            {
                int i = (k + worker * 61) % texts.Length;
                results[worker][i] = fresh.Encode(texts[i], ClipTokenizer.DefaultContextLength);
            }
        });
        foreach (var result in results)
            for (int i = 0; i < texts.Length; i++)
                Assert.Equal(serial[i], result[i]);
    }

    [Trait("Category", "Fixtures")]
    [FixtureFact]
    public void ContextLengthBelowTwoIsRejected()
    {
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => Tokenizer.Encode("a", contextLength: 1));
        Assert.Equal("contextLength", e.ParamName);
        Assert.Throws<ArgumentOutOfRangeException>(() => Tokenizer.EncodeBatch(new[] { "a" }, contextLength: 0));
    }

    [Fact]
    public void BadMergeLineIsReportedWithFileAndLine()
    {
        string path = WriteGzip("bad.txt.gz", "#version: 0.2\ni n\nt h\nnot-a-merge\n");
        var e = Assert.Throws<InvalidDataException>(() => ClipTokenizer.FromOpenAIMergesFile(path));
        Assert.Contains(path, e.Message);
        Assert.Contains("line 4", e.Message);
        Assert.Contains("not-a-merge", e.Message);
    }

    [Fact]
    public void ShortMergesFileIsReported()
    {
        string path = WriteGzip("short.txt.gz", "#version: 0.2\ni n\nt h\n");
        var e = Assert.Throws<InvalidDataException>(() => ClipTokenizer.FromOpenAIMergesFile(path));
        Assert.Contains(path, e.Message);
        Assert.Contains("48894", e.Message);
    }

    [Trait("Category", "Fixtures")]
    [FixtureFact]
    public void MergeOfUnknownSymbolsIsReportedWithLine()
    {
        // '€' is not a byte-level symbol, as in a merges file written without the byte encoding.
        string text;
        using (var reader = new StreamReader(new GZipStream(File.OpenRead(Fixtures.VocabularyPath), CompressionMode.Decompress)))
            text = reader.ReadToEnd();
        var lines = text.Split('\n');
        lines[11] = "\u20AC x";
        string path = WriteGzip("unknown.txt.gz", string.Join("\n", lines));
        var e = Assert.Throws<InvalidDataException>(() => ClipTokenizer.FromOpenAIMergesFile(path));
        Assert.Contains("line 12", e.Message);
        Assert.Contains("\u20AC", e.Message);
    }

    [Fact]
    public void DuplicateTokenIsReportedWithLine()
    {
        var lines = new List<string> { "#version: 0.2" };
        lines.AddRange(Enumerable.Range(0, 48894).Select(i => i < 2 ? "i n" : "x y"));
        string path = WriteGzip("duplicate.txt.gz", string.Join("\n", lines));
        var e = Assert.Throws<InvalidDataException>(() => ClipTokenizer.FromOpenAIMergesFile(path));
        Assert.Contains("line 3", e.Message);
        Assert.Contains("'in'", e.Message);
    }

    [Fact]
    public void HuggingFaceVocabularyWithoutSpecialTokensIsRejected()
    {
        File.WriteAllText(Path.Combine(_temp, "vocab.json"), "{\"a\": 0, \"b\": 1}");
        File.WriteAllText(Path.Combine(_temp, "merges.txt"), "#version: 0.2\n");
        var e = Assert.Throws<InvalidDataException>(() =>
            ClipTokenizer.FromHuggingFace(Path.Combine(_temp, "vocab.json"), Path.Combine(_temp, "merges.txt")));
        Assert.Contains("<|startoftext|>", e.Message);
        Assert.Contains("vocab.json", e.Message);
    }

    [Fact]
    public void HuggingFaceVocabularyWithGapsIsRejected()
    {
        using var vocab = new MemoryStream(Encoding.UTF8.GetBytes("{\"a\": 0, \"b\": 5}"));
        using var merges = new MemoryStream();
        var e = Assert.Throws<InvalidDataException>(() => ClipTokenizer.FromHuggingFace(vocab, merges, "my-vocab.json"));
        Assert.Contains("my-vocab.json", e.Message);
        Assert.Contains("id 5", e.Message);
    }

    [Trait("Category", "Fixtures")]
    [FixtureFact]
    public void HuggingFaceMergeErrorsNameTheLine()
    {
        var (vocab, merges) = ClipTokenizerParityTests.WriteHuggingFaceFiles(Fixtures.VocabularyPath, _temp);
        var lines = File.ReadAllLines(merges);
        lines[6] = "i n x";
        File.WriteAllLines(merges, lines);
        var e = Assert.Throws<InvalidDataException>(() => ClipTokenizer.FromHuggingFace(vocab, merges));
        Assert.Contains("line 7", e.Message);
        Assert.Contains(merges, e.Message);
    }

    private string WriteGzip(string name, string content)
    {
        string path = Path.Combine(_temp, name);
        using var gzip = new GZipStream(File.Create(path), CompressionLevel.Fastest);
        gzip.Write(Encoding.UTF8.GetBytes(content));
        return path;
    }
}
