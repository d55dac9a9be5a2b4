using System;
using System.Collections.Generic;
using System.IO;
using System.IO.Compression;
using System.Linq;
using System.Text;
using System.Text.Json;
using Microsoft.ML.Clip.Tokenization;
using Xunit;

namespace Microsoft.ML.Clip.Tests.Tokenization;

/// <summary>Ids against open_clip's own output, from both file formats.</summary>
public sealed class ClipTokenizerParityTests : IDisposable
{
    private readonly string _temp = Directory.CreateTempSubdirectory("clip-tokenizer-").FullName;

    public void Dispose() => Directory.Delete(_temp, recursive: true);

    [Trait("Category", "Fixtures")]
    [FixtureFact]
    public void OpenAIMergesFileReproducesAllOpenClipCases()
    {
        var tokenizer = TokenizerFixtures.OpenAI;
        Assert.Equal(100, TokenizerFixtures.Cases.Count);
        Assert.Equal(49406, tokenizer.StartOfTextId);
        Assert.Equal(49407, tokenizer.EndOfTextId);
        Assert.Equal(49408, tokenizer.VocabularySize);
        AssertAllCases(tokenizer);
    }

    [Trait("Category", "Fixtures")]
    [FixtureFact]
    public void HuggingFaceFilesReproduceAllOpenClipCases()
    {
        // Our own conversion of OpenAI's file to Hugging Face's layout, independent of the library's reader.
        var (vocabPath, mergesPath) = WriteHuggingFaceFiles(Fixtures.VocabularyPath, _temp);
        var tokenizer = ClipTokenizer.FromHuggingFace(vocabPath, mergesPath);
        Assert.Equal(49406, tokenizer.StartOfTextId);
        Assert.Equal(49407, tokenizer.EndOfTextId);
        Assert.Equal(49408, tokenizer.VocabularySize);
        AssertAllCases(tokenizer);
    }

    [Trait("Category", "Fixtures")]
    [FixtureFact]
    public void SaveWritesHuggingFaceFilesThatLoadBackIdentically()
    {
        var (expectedVocab, expectedMerges) = WriteHuggingFaceFiles(Fixtures.VocabularyPath, _temp);
        string vocab = Path.Combine(_temp, "saved", "vocab.json"), merges = Path.Combine(_temp, "saved", "merges.txt");
        TokenizerFixtures.OpenAI.Save(vocab, merges);

        // Same content as the hand conversion: same token → id map, same merges in the same order.
        Assert.Equal(ReadVocab(expectedVocab), ReadVocab(vocab));
        Assert.Equal(File.ReadAllLines(expectedMerges), File.ReadAllLines(merges));

        var reloaded = ClipTokenizer.FromHuggingFace(vocab, merges);
        AssertAllCases(reloaded);

        // Saving the reloaded tokenizer gives the same bytes (stream overloads this time).
        using var vocab2 = new MemoryStream();
        using var merges2 = new MemoryStream();
        reloaded.Save(vocab2, merges2);
        Assert.Equal(File.ReadAllBytes(vocab), vocab2.ToArray());
        Assert.Equal(File.ReadAllBytes(merges), merges2.ToArray());
    }

    [Trait("Category", "Fixtures")]
    [FixtureFact]
    public void StreamOverloadsReadCompressedAndPlainMergesFiles()
    {
        using var gz = File.OpenRead(Fixtures.VocabularyPath);
        var fromGzip = ClipTokenizer.FromOpenAIMergesFile(gz, "bpe.txt.gz");

        using var plain = new MemoryStream();
        using (var source = new GZipStream(File.OpenRead(Fixtures.VocabularyPath), CompressionMode.Decompress)) source.CopyTo(plain);
        plain.Position = 0;
        var fromPlain = ClipTokenizer.FromOpenAIMergesFile(plain, "bpe.txt");

        foreach (var (text, ids) in TokenizerFixtures.Cases.Take(30))
        {
            Assert.Equal(ids, fromGzip.Encode(text, ClipTokenizer.DefaultContextLength));
            Assert.Equal(ids, fromPlain.Encode(text, ClipTokenizer.DefaultContextLength));
        }
    }

    private static void AssertAllCases(ClipTokenizer tokenizer)
    {
        int index = 0;
        foreach (var (text, ids) in TokenizerFixtures.Cases)
        {
            var actual = tokenizer.Encode(text, ClipTokenizer.DefaultContextLength);
            Assert.True(ids.SequenceEqual(actual),
                $"case {index} '{text}': expected [{string.Join(",", ids)}] got [{string.Join(",", actual)}]");
            index++;
        }
    }

    private static Dictionary<string, int> ReadVocab(string path)
        => JsonSerializer.Deserialize<Dictionary<string, int>>(File.ReadAllText(path))!;

    /// <summary>
    /// Converts OpenAI's merges file to vocab.json + merges.txt the way Hugging Face's CLIP files are laid out:
    /// GPT-2 byte symbols, the same with "&lt;/w&gt;", one token per merge, then the two special tokens.
    /// </summary>
    internal static (string VocabPath, string MergesPath) WriteHuggingFaceFiles(string bpeTxtGz, string folder)
    {
        string text;
        using (var gzip = new GZipStream(File.OpenRead(bpeTxtGz), CompressionMode.Decompress))
        using (var reader = new StreamReader(gzip, Encoding.UTF8))
            text = reader.ReadToEnd();
        var merges = text.Split('\n')[1..(1 + 48894)];

        var symbols = GptByteSymbols();
        var vocab = new List<string>();
        vocab.AddRange(symbols);
        vocab.AddRange(symbols.Select(s => s + "</w>"));
        vocab.AddRange(merges.Select(m => m.Replace(" ", "")));
        vocab.Add("<|startoftext|>");
        vocab.Add("<|endoftext|>");

        string vocabPath = Path.Combine(folder, "vocab.json"), mergesPath = Path.Combine(folder, "merges.txt");
        var map = new Dictionary<string, int>();
        for (int i = 0; i < vocab.Count; i++) map.Add(vocab[i], i);
        File.WriteAllText(vocabPath, JsonSerializer.Serialize(map), new UTF8Encoding(false));
        File.WriteAllText(mergesPath, "#version: 0.2\n" + string.Join("\n", merges) + "\n", new UTF8Encoding(false));
        return (vocabPath, mergesPath);
    }

    /// <summary>GPT-2's bytes_to_unicode values, in its order: visible Latin-1 bytes, then 256, 257, ... for the rest.</summary>
    private static List<string> GptByteSymbols()
    {
        var visible = Enumerable.Range('!', '~' - '!' + 1).Concat(Enumerable.Range(0xA1, 0xAC - 0xA1 + 1)).Concat(Enumerable.Range(0xAE, 0xFF - 0xAE + 1)).ToList();
        var result = visible.Select(b => ((char)b).ToString()).ToList();
        int next = 256;
        for (int b = 0; b < 256; b++)
            if (!visible.Contains(b)) result.Add(((char)next++).ToString());
        return result;
    }
}
