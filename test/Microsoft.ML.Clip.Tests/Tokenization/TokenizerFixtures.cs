using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text.Json;
using Microsoft.ML.Clip.Tokenization;

namespace Microsoft.ML.Clip.Tests.Tokenization;

/// <summary>The OpenAI tokenizer and open_clip's reference cases, loaded once for all tokenizer tests.</summary>
internal static class TokenizerFixtures
{
    private static readonly Lazy<ClipTokenizer> _openAI = new(() => ClipTokenizer.FromOpenAIMergesFile(Fixtures.VocabularyPath));
    private static readonly Lazy<IReadOnlyList<(string Text, int[] Ids)>> _cases = new(LoadCases);

    public static ClipTokenizer OpenAI => _openAI.Value;

    /// <summary>cases.jsonl: open_clip's ids (77 each) for 100 captions.</summary>
    public static IReadOnlyList<(string Text, int[] Ids)> Cases => _cases.Value;

    private static IReadOnlyList<(string, int[])> LoadCases()
    {
        var cases = new List<(string, int[])>();
        foreach (var line in File.ReadLines(Fixtures.Path("openclip", "tokenizer", "cases.jsonl")))
        {
            if (string.IsNullOrWhiteSpace(line)) continue;
            using var doc = JsonDocument.Parse(line);
            var text = doc.RootElement.GetProperty("text").GetString()!;
            var ids = doc.RootElement.GetProperty("ids").EnumerateArray().Select(e => e.GetInt32()).ToArray();
            cases.Add((text, ids));
        }
        return cases;
    }
}
