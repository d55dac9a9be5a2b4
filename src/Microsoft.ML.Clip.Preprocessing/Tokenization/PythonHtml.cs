using System;
using System.Collections.Generic;
using System.Text;

namespace Microsoft.ML.Clip.Tokenization;

/// <summary>
/// Python's <c>html.unescape</c>, which open_clip applies (twice) to every caption. <c>WebUtility.HtmlDecode</c>
/// differs: it knows only the HTML 4 entities, needs the ';', and decodes numeric references literally.
/// </summary>
/// <remarks>
/// The rules reproduced here:
/// <list type="bullet">
/// <item>A reference is '&amp;' followed by '#' and decimal digits, '#x'/'#X' and hex digits, or a name of 1 to 32
/// characters other than tab, line feed, form feed, space, '&lt;', '&amp;', '#' and ';' — each with an optional ';'.</item>
/// <item>Numbers: a few (0, 13, 128–159) are replaced as browsers do (128 → €, ...), surrogates and values above
/// U+10FFFF become U+FFFD, the remaining control and non-characters are dropped, anything else is that code point.</item>
/// <item>Names: the whole name (with its ';') if it is an HTML5 entity; otherwise the longest entity that is a proper
/// prefix of it (at least 2 characters: only legacy entities such as <c>&amp;lt</c> lack the ';'), followed by the
/// rest of the name; otherwise the text is kept.</item>
/// </list>
/// The tables are Python's own data (<c>Generated/PythonHtml.Entities.g.cs</c>).
/// </remarks>
internal static partial class PythonHtml
{
    private const int MaxNameLength = 32;

    private static readonly Lazy<Entities> _entities = new(() => new Entities());

    /// <summary>Decodes the character references in <paramref name="text"/> as Python's <c>html.unescape</c> does.</summary>
    public static string Unescape(string text)
    {
        int amp = text.IndexOf('&');
        if (amp < 0) return text;

        var entities = _entities.Value;
        var output = new StringBuilder(text.Length);
        output.Append(text, 0, amp);
        int i = amp;
        while (true)
        {
            // text[i] == '&'. Python's re.sub resumes after a replacement, so replaced text is never rescanned.
            int end = TryAppendReference(text, i + 1, output, entities);
            if (end < 0)
            {
                output.Append('&');
                end = i + 1;
            }
            int next = text.IndexOf('&', end);
            if (next < 0)
            {
                output.Append(text, end, text.Length - end);
                return output.ToString();
            }
            output.Append(text, end, next - end);
            i = next;
        }
    }

    /// <summary>Decodes the reference starting at <paramref name="start"/> (just after '&amp;'); returns the index after it, or -1.</summary>
    private static int TryAppendReference(string text, int start, StringBuilder output, Entities entities)
    {
        if (start >= text.Length) return -1;
        if (text[start] == '#')
        {
            int p = start + 1;
            if (p < text.Length && char.IsAsciiDigit(text[p]))
                return AppendNumeric(text, p, hex: false, output);
            if (p + 1 < text.Length && (text[p] | 0x20) == 'x' && char.IsAsciiHexDigit(text[p + 1]))
                return AppendNumeric(text, p + 1, hex: true, output);
            return -1; // '&#' followed by anything else: no alternative of Python's pattern matches.
        }
        return AppendNamed(text, start, output, entities);
    }

    private static int AppendNumeric(string text, int digitsStart, bool hex, StringBuilder output)
    {
        // Python's int() has no size limit: remember only whether the value left Unicode's range.
        int value = 0;
        bool tooLarge = false;
        int p = digitsStart;
        for (; p < text.Length; p++)
        {
            char c = text[p];
            int digit;
            if (char.IsAsciiDigit(c)) digit = c - '0';
            else if (hex && char.IsAsciiHexDigit(c)) digit = (c | 0x20) - 'a' + 10;
            else break;
            if (!tooLarge)
            {
                value = value * (hex ? 16 : 10) + digit;
                if (value > 0x10FFFF) tooLarge = true;
            }
        }
        if (p < text.Length && text[p] == ';') p++;

        if (tooLarge || value is >= 0xD800 and <= 0xDFFF)
            output.Append('\uFFFD');
        else if (InvalidCharRefNumbers.BinarySearch(value) is int k and >= 0)
            output.Append(InvalidCharRefReplacements[k]);
        else if (value < 0x10000 && !InRanges(InvalidCodePointRanges, value))
            output.Append((char)value);
        else if (!InRanges(InvalidCodePointRanges, value))
            output.Append(char.ConvertFromUtf32(value)); // a surrogate pair
        // else: a code point Python drops.
        return p;
    }

    private static int AppendNamed(string text, int start, StringBuilder output, Entities entities)
    {
        // The name: up to 32 code points (a surrogate pair counts once, as in Python) outside the excluded set.
        int p = start;
        int codePoints = 0;
        while (p < text.Length && codePoints < MaxNameLength && !EndsName(text[p]))
        {
            p += char.IsHighSurrogate(text[p]) && p + 1 < text.Length && char.IsLowSurrogate(text[p + 1]) ? 2 : 1;
            codePoints++;
        }
        if (p == start) return -1;
        int end = p < text.Length && text[p] == ';' ? p + 1 : p;
        var candidate = text.AsSpan(start, end - start);

        if (entities.TryGet(candidate, out string? value))
        {
            output.Append(value);
            return end;
        }
        // Longest proper prefix of at least two characters. Entity names are ASCII, so only the ASCII start of the
        // candidate can match, and there UTF-16 lengths equal Python's code-point lengths.
        int longest = Math.Min(candidate.Length - 1, MaxNameLength);
        for (int length = longest; length >= 2; length--)
        {
            if (entities.TryGet(candidate[..length], out value))
            {
                output.Append(value);
                output.Append(candidate[length..]);
                return end;
            }
        }
        return -1;
    }

    private static bool EndsName(char c) => c is '\t' or '\n' or '\f' or ' ' or '<' or '&' or '#' or ';';

    private static bool InRanges(ReadOnlySpan<int> ranges, int value)
    {
        for (int i = 0; i < ranges.Length; i += 2)
        {
            if (value < ranges[i]) return false;
            if (value <= ranges[i + 1]) return true;
        }
        return false;
    }

    /// <summary>The HTML5 entity table, parsed once from <see cref="EntityData"/>; lookups take spans (no substrings).</summary>
    private sealed class Entities
    {
        private readonly Dictionary<string, string> _byName;
        private readonly Dictionary<string, string>.AlternateLookup<ReadOnlySpan<char>> _bySpan;

        public Entities()
        {
            _byName = new Dictionary<string, string>(2300, StringComparer.Ordinal);
            var data = EntityData.AsSpan();
            while (!data.IsEmpty)
            {
                int nameEnd = data.IndexOf('\0');
                var name = data[..nameEnd];
                data = data[(nameEnd + 1)..];
                int valueEnd = data.IndexOf('\0');
                _byName.Add(name.ToString(), data[..valueEnd].ToString());
                data = data[(valueEnd + 1)..];
            }
            _bySpan = _byName.GetAlternateLookup<ReadOnlySpan<char>>();
        }

        public bool TryGet(ReadOnlySpan<char> name, out string? value) => _bySpan.TryGetValue(name, out value);
    }
}
