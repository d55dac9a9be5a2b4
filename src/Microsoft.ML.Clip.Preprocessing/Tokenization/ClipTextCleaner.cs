using System;

namespace Microsoft.ML.Clip.Tokenization;

/// <summary>
/// The caption cleaning that open_clip's default tokenizer applies before BPE (its <c>"lower"</c> cleaning, without
/// ftfy), reproduced exactly:
/// <list type="number">
/// <item>Python's <c>html.unescape</c>, twice (so <c>&amp;amp;lt;</c> becomes '&lt;'): HTML5 entities, legacy entities
/// without ';', numeric references with browsers' fix-ups (<c>&amp;#128;</c> → '€', invalid code points → U+FFFD).</item>
/// <item>Whitespace runs (Python's notion, which includes U+001C..U+001F and U+0085) become one space; the ends are
/// stripped.</item>
/// <item>Python's <c>str.lower</c> (full mappings such as 'İ' → "i̇", and the final-sigma rule).</item>
/// </list>
/// </summary>
/// <remarks>
/// ftfy (the "fixes text for you" library open_clip calls first) repairs mojibake; it is deliberately left out, as in
/// the reference fixtures. Whitespace follows open_clip 2.32's <c>" ".join(text.split())</c>; releases before late 2023
/// used the <c>regex</c> module's <c>\s</c>, which differs only in not treating U+001C..U+001F as spaces.
/// The Unicode data is Python 3.11's (Unicode 14).
/// <para>A lone surrogate (invalid UTF-16) becomes U+FFFD first. Python cannot encode such text at all
/// (<c>UnicodeEncodeError</c>), so there is no reference to follow; the replacement character at least gives the model
/// valid UTF-8, where the byte-level encoder would otherwise emit surrogate bytes.</para>
/// </remarks>
public static class ClipTextCleaner
{
    /// <summary>Cleans <paramref name="text"/> as open_clip does before tokenizing it.</summary>
    /// <param name="text">The raw caption.</param>
    /// <returns>The cleaned caption; empty when the text held only whitespace.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="text"/> is null.</exception>
    public static string Clean(string text) => Clean(text, ClipTextCleaning.Lower);

    /// <summary>Cleans <paramref name="text"/> with one of open_clip's cleaning functions.</summary>
    /// <param name="text">The raw caption.</param>
    /// <param name="cleaning">Which of open_clip's functions (<c>lower</c>, <c>whitespace</c>, <c>canonicalize</c>).</param>
    /// <returns>The cleaned caption; empty when nothing but whitespace (and, for <see cref="ClipTextCleaning.Canonicalize"/>, punctuation) remains.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="text"/> is null.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="cleaning"/> is not a defined value.</exception>
    public static string Clean(string text, ClipTextCleaning cleaning)
    {
        ArgumentNullException.ThrowIfNull(text);
        string unescaped = PythonHtml.Unescape(PythonHtml.Unescape(ReplaceLoneSurrogates(text)));
        return cleaning switch
        {
            ClipTextCleaning.Lower => PythonText.CollapseWhiteSpace(unescaped, lower: true),
            ClipTextCleaning.Whitespace => PythonText.CollapseWhiteSpace(unescaped, lower: false),
            ClipTextCleaning.Canonicalize => PythonText.CollapseWhiteSpace(RemovePunctuation(unescaped), lower: true),
            _ => throw new ArgumentOutOfRangeException(nameof(cleaning), cleaning, "Unknown text cleaning."),
        };
    }

    /// <summary>
    /// The first steps of big_vision's <c>canonicalize_text</c> as open_clip has it: <c>text.replace("_", " ")</c>, then
    /// <c>text.translate</c> deleting Python's <c>string.punctuation</c> (the 32 ASCII punctuation characters; '_' is
    /// among them but already replaced). Non-ASCII punctuation ('¿', '…', '—') stays, as in Python.
    /// </summary>
    private static string RemovePunctuation(string text)
    {
        if (text.AsSpan().IndexOfAny(_asciiPunctuation) < 0) return text;
        var builder = new System.Text.StringBuilder(text.Length);
        foreach (char c in text)
        {
            if (c == '_') builder.Append(' ');
            else if (!_asciiPunctuation.Contains(c)) builder.Append(c);
        }
        return builder.ToString();
    }

    private static readonly System.Buffers.SearchValues<char> _asciiPunctuation =
        System.Buffers.SearchValues.Create("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~");

    private static string ReplaceLoneSurrogates(string text)
    {
        if (!text.AsSpan().ContainsAnyInRange('\uD800', '\uDFFF')) return text;
        return string.Create(text.Length, text, static (destination, source) =>
        {
            for (int i = 0; i < source.Length; i++)
            {
                char c = source[i];
                if (char.IsHighSurrogate(c) && i + 1 < source.Length && char.IsLowSurrogate(source[i + 1]))
                {
                    destination[i] = c;
                    destination[++i] = source[i];
                }
                else
                {
                    destination[i] = char.IsSurrogate(c) ? '\uFFFD' : c;
                }
            }
        });
    }
}
