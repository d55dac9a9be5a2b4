using System;
using System.Buffers;
using System.Collections.Generic;
using System.Text;

namespace Microsoft.ML.Clip.Tokenization;

/// <summary>
/// Python's <c>" ".join(s.split())</c> and <c>str.lower()</c>, code point for code point. .NET's
/// <c>char.IsWhiteSpace</c> misses U+001C..U+001F, and <c>ToLowerInvariant</c> is a simple per-char mapping: it
/// lowers 'İ' to 'i' instead of "i̇" and never produces the final sigma 'ς'. The data comes from Python itself
/// (<c>Generated/PythonText.Tables.g.cs</c>).
/// </summary>
internal static partial class PythonText
{
    private const int CapitalSigma = 0x03A3;
    private const char SmallSigma = '\u03C3';
    private const char SmallFinalSigma = '\u03C2';

    private static readonly SearchValues<char> _whiteSpace = SearchValues.Create(WhiteSpaceChars);
    private static readonly Dictionary<int, int> _lowerSingle = BuildLowerSingle();

    /// <summary>Python's <c>str.isspace</c> for one character (every such character is in the BMP).</summary>
    public static bool IsWhiteSpace(char c) => _whiteSpace.Contains(c);

    /// <summary>
    /// <c>" ".join(text.split())</c>: whitespace runs become one space, the ends are stripped; then, with
    /// <paramref name="lower"/>, Python's lowercasing. Returns <paramref name="text"/> itself when nothing changes (the
    /// common case for clean ASCII).
    /// </summary>
    public static string CollapseWhiteSpace(string text, bool lower)
    {
        if (IsCollapsedAscii(text, lower)) return text;

        char[] buffer = ArrayPool<char>.Shared.Rent(Math.Max(text.Length, 1));
        try
        {
            int length = 0;
            bool pendingSpace = false;
            foreach (char c in text)
            {
                if (IsWhiteSpace(c))
                {
                    pendingSpace = length > 0;
                    continue;
                }
                if (pendingSpace)
                {
                    buffer[length++] = ' ';
                    pendingSpace = false;
                }
                buffer[length++] = c;
            }
            return lower ? Lower(buffer.AsSpan(0, length)) : new string(buffer, 0, length);
        }
        finally
        {
            ArrayPool<char>.Shared.Return(buffer);
        }
    }

    /// <summary>Python's <c>str.lower()</c>.</summary>
    public static string Lower(string text) => Lower(text.AsSpan());

    private static string Lower(ReadOnlySpan<char> text)
    {
        if (Ascii.IsValid(text))
            return string.Create(text.Length, text, static (destination, source) => Ascii.ToLower(source, destination, out _));

        var output = new StringBuilder(text.Length + 8);
        for (int i = 0; i < text.Length;)
        {
            int codePoint = CodePointAt(text, i, out int units);
            if (codePoint < 0x80)
                output.Append((char)(codePoint is >= 'A' and <= 'Z' ? codePoint + 32 : codePoint));
            else if (codePoint == CapitalSigma)
                output.Append(IsFinalSigma(text, i, units) ? SmallFinalSigma : SmallSigma);
            else if (_lowerSingle.TryGetValue(codePoint, out int lower))
                AppendCodePoint(output, lower);
            else if (LowerMultiCodePoints.IndexOf(codePoint) is int k and >= 0)
                output.Append(LowerMultiValues[k]);
            else
                output.Append(text.Slice(i, units));
            i += units;
        }
        return output.ToString();
    }

    /// <summary>
    /// Python's final-sigma rule: 'Σ' lowers to 'ς' when a cased character precedes it and none follows it,
    /// case-ignorable characters (apostrophes, combining marks, ...) being skipped on both sides.
    /// </summary>
    private static bool IsFinalSigma(ReadOnlySpan<char> text, int index, int units)
    {
        int j = index;
        int codePoint = -1;
        while (j > 0)
        {
            codePoint = CodePointBefore(text, j, out int before);
            j -= before;
            if (!InRanges(CaseIgnorableRanges, codePoint)) break;
            codePoint = -1;
        }
        if (codePoint < 0 || !InRanges(CasedRanges, codePoint)) return false;

        for (j = index + units; j < text.Length;)
        {
            codePoint = CodePointAt(text, j, out int after);
            j += after;
            if (!InRanges(CaseIgnorableRanges, codePoint)) return !InRanges(CasedRanges, codePoint);
        }
        return true;
    }

    /// <summary>True when <paramref name="text"/> is ASCII, has no capital (when <paramref name="lower"/>), and no whitespace but single inner spaces.</summary>
    private static bool IsCollapsedAscii(string text, bool lower)
    {
        for (int i = 0; i < text.Length; i++)
        {
            char c = text[i];
            if (c >= 0x80 || (lower && c is >= 'A' and <= 'Z')) return false;
            if (c == ' ')
            {
                if (i == 0 || i == text.Length - 1 || text[i - 1] == ' ') return false;
            }
            else if (IsWhiteSpace(c))
            {
                return false;
            }
        }
        return true;
    }

    // Python strings are sequences of code points; a lone surrogate is a code point of its own there too.
    private static int CodePointAt(ReadOnlySpan<char> text, int index, out int units)
    {
        char c = text[index];
        if (char.IsHighSurrogate(c) && index + 1 < text.Length && char.IsLowSurrogate(text[index + 1]))
        {
            units = 2;
            return char.ConvertToUtf32(c, text[index + 1]);
        }
        units = 1;
        return c;
    }

    private static int CodePointBefore(ReadOnlySpan<char> text, int end, out int units)
    {
        char c = text[end - 1];
        if (char.IsLowSurrogate(c) && end >= 2 && char.IsHighSurrogate(text[end - 2]))
        {
            units = 2;
            return char.ConvertToUtf32(text[end - 2], c);
        }
        units = 1;
        return c;
    }

    private static void AppendCodePoint(StringBuilder output, int codePoint)
    {
        if (codePoint < 0x10000)
        {
            output.Append((char)codePoint);
        }
        else
        {
            codePoint -= 0x10000;
            output.Append((char)(0xD800 + (codePoint >> 10)));
            output.Append((char)(0xDC00 + (codePoint & 0x3FF)));
        }
    }

    /// <summary>Binary search in sorted, disjoint, inclusive [start, end] pairs.</summary>
    private static bool InRanges(ReadOnlySpan<int> ranges, int codePoint)
    {
        int lo = 0, hi = ranges.Length / 2 - 1;
        while (lo <= hi)
        {
            int mid = (lo + hi) >>> 1;
            if (codePoint < ranges[2 * mid]) hi = mid - 1;
            else if (codePoint > ranges[2 * mid + 1]) lo = mid + 1;
            else return true;
        }
        return false;
    }

    private static Dictionary<int, int> BuildLowerSingle()
    {
        var map = new Dictionary<int, int>(1500);
        for (int i = 0; i < LowerRuns.Length; i += 4)
        {
            int start = LowerRuns[i], count = LowerRuns[i + 1], stride = LowerRuns[i + 2], delta = LowerRuns[i + 3];
            for (int k = 0; k < count; k++) map.Add(start + k * stride, start + k * stride + delta);
        }
        return map;
    }
}
