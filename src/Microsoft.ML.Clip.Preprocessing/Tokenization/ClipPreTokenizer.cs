using System;
using System.Collections.Generic;
using Microsoft.ML.Tokenizers;

namespace Microsoft.ML.Clip.Tokenization;

/// <summary>
/// open_clip's pre-tokenizer: the words that
/// <c>regex.findall(r"&lt;start_of_text&gt;|&lt;end_of_text&gt;|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+", text, IGNORECASE)</c>
/// returns, as (offset, length) ranges.
/// </summary>
/// <remarks>
/// <para>Why not <see cref="RegexPreTokenizer"/> with that pattern: .NET's <c>Regex</c> works on UTF-16 units, so a
/// letter or digit outside the BMP (mathematical alphanumerics such as "𝐀", CJK extension B ideographs...) is two
/// surrogates to it, matched by <c>[^\s\p{L}\p{N}]</c> instead of <c>\p{L}</c>; and its case-insensitive matching
/// does not accept 'ſ' (U+017F) for 's' as Python's <c>regex</c> module does. Either changes the ids. This scanner
/// walks code points with the <c>regex</c> module's own classification (<c>Generated/ClipPreTokenizer.Tables.g.cs</c>),
/// which also carries its quirks (U+0345, whose case partner is a letter, belongs to no class and is skipped).</para>
/// <para>At each position the alternatives are tried in the pattern's order and the first that matches wins; a
/// position where none matches (whitespace) is skipped. The special tokens come out as their own ranges, which
/// <see cref="BpeTokenizer"/> then maps to their ids when the text is exactly the token.</para>
/// </remarks>
internal sealed partial class ClipPreTokenizer : PreTokenizer
{
    private const byte None = 0, Letter = 1, Number = 2, Other = 3;

    // Literal alternatives in the pattern's order; each starts with '<' or an apostrophe.
    private static readonly string[] SpecialLiterals = [ClipVocabulary.StartOfTextToken, ClipVocabulary.EndOfTextToken];
    private static readonly string[] Contractions = ["'s", "'t", "'re", "'ve", "'m", "'ll", "'d"];

    // Classes of the BMP, expanded once from ClassRanges (64 KiB) so the common case is one array read.
    private static readonly byte[] _bmpClasses = BuildBmpClasses();

    public static ClipPreTokenizer Instance { get; } = new();

    private ClipPreTokenizer()
    {
    }

    public override IEnumerable<(int Offset, int Length)> PreTokenize(string text)
        => text is null ? throw new ArgumentNullException(nameof(text)) : Split(text.AsSpan());

    public override IEnumerable<(int Offset, int Length)> PreTokenize(ReadOnlySpan<char> text) => Split(text);

    internal static List<(int Offset, int Length)> Split(ReadOnlySpan<char> text)
    {
        var words = new List<(int, int)>(text.Length / 4 + 1);
        int i = 0;
        while (i < text.Length)
        {
            int length = MatchAt(text, i, out int skip);
            if (length > 0)
            {
                words.Add((i, length));
                i += length;
            }
            else
            {
                i += skip;
            }
        }
        return words;
    }

    /// <summary>The length of the match at <paramref name="index"/>, or 0 with the code point's length in <paramref name="skip"/>.</summary>
    private static int MatchAt(ReadOnlySpan<char> text, int index, out int skip)
    {
        skip = 0;
        char first = text[index];
        if (first == '<')
        {
            foreach (var literal in SpecialLiterals)
                if (LiteralAt(text, index, literal)) return literal.Length;
        }
        else if (first == '\'')
        {
            foreach (var literal in Contractions)
                if (LiteralAt(text, index, literal)) return literal.Length;
        }

        byte cls = ClassAt(text, index, out int units);
        switch (cls)
        {
            case Number:
                return units;
            case Letter:
            case Other:
                int end = index + units;
                while (end < text.Length && ClassAt(text, end, out int next) == cls) end += next;
                return end - index;
            default:
                skip = units;
                return 0;
        }
    }

    /// <summary>Case-insensitive match of an ASCII literal, as the regex module's IGNORECASE does it.</summary>
    private static bool LiteralAt(ReadOnlySpan<char> text, int index, string literal)
    {
        if (text.Length - index < literal.Length) return false;
        for (int k = 0; k < literal.Length; k++)
        {
            char c = text[index + k], l = literal[k];
            if (c == l) continue;
            if (char.IsAsciiLetterLower(l) && (c == char.ToUpperInvariant(l) || IsExtraMatch(c, l))) continue;
            return false;
        }
        return true;
    }

    private static bool IsExtraMatch(char c, char letter)
    {
        for (int k = 0; k < ExtraLiteralMatches.Length; k += 2)
            if (ExtraLiteralMatches[k] == c && ExtraLiteralMatches[k + 1] == letter) return true;
        return false;
    }

    private static byte ClassAt(ReadOnlySpan<char> text, int index, out int units)
    {
        char c = text[index];
        if (char.IsHighSurrogate(c) && index + 1 < text.Length && char.IsLowSurrogate(text[index + 1]))
        {
            units = 2;
            return ClassOf(char.ConvertToUtf32(c, text[index + 1]));
        }
        units = 1; // a lone surrogate is a code point of its own, as in Python
        return _bmpClasses[c];
    }

    /// <summary>The class of a code point: the entry of the last range starting at or before it.</summary>
    private static byte ClassOf(int codePoint)
    {
        int lo = 0, hi = ClassRanges.Length - 1;
        while (lo < hi)
        {
            int mid = (lo + hi + 1) >>> 1;
            if (ClassRanges[mid] >> 2 <= codePoint) lo = mid;
            else hi = mid - 1;
        }
        return (byte)(ClassRanges[lo] & 3);
    }

    private static byte[] BuildBmpClasses()
    {
        var classes = new byte[0x10000];
        for (int r = 0; r < ClassRanges.Length; r++)
        {
            int start = ClassRanges[r] >> 2;
            if (start > 0xFFFF) break;
            int end = r + 1 < ClassRanges.Length ? Math.Min(ClassRanges[r + 1] >> 2, 0x10000) : 0x10000;
            classes.AsSpan(start, end - start).Fill((byte)(ClassRanges[r] & 3));
        }
        return classes;
    }
}
