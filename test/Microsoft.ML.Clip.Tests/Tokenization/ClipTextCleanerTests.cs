using System;
using System.Net;
using Microsoft.ML.Clip.Tokenization;
using Xunit;

namespace Microsoft.ML.Clip.Tests.Tokenization;

/// <summary>
/// open_clip's cleaning: <c>" ".join(html.unescape(html.unescape(t)).strip().split()).lower()</c> in Python 3.11.
/// Every expected value below was checked against that expression.
/// </summary>
public class ClipTextCleanerTests
{
    [Theory]
    // Entities: unescaped twice, HTML5 names, legacy names without ';', longest-prefix rule.
    [InlineData("&amp;amp;", "&")]
    [InlineData("&amp;lt;b&amp;gt;", "<b>")]
    [InlineData("&amp;#128;", "\u20AC")]
    [InlineData("&lt", "<")]
    [InlineData("&ltx", "<x")]
    [InlineData("&lt;3", "<3")]
    [InlineData("&notit;", "\u00ACit;")]
    [InlineData("&notin;", "\u2209")]
    [InlineData("&AMP", "&")]
    [InlineData("&ampamp", "&")]
    [InlineData("& amp;", "& amp;")]
    [InlineData("&nbsp;a&nbsp;", "a")]
    [InlineData("&Afr;", "\U0001D504")]
    [InlineData("&NotNestedGreaterGreater;", "\u2AA2\u0338")]
    // Numeric references: Windows-1252 fix-ups, out-of-range and surrogates → U+FFFD, dropped controls.
    [InlineData("&#128;", "\u20AC")]
    [InlineData("&#x80;", "\u20AC")]
    [InlineData("&#X80", "\u20AC")]
    [InlineData("&#x110000;", "\uFFFD")]
    [InlineData("&#99999999999999999999;", "\uFFFD")]
    [InlineData("&#0;", "\uFFFD")]
    [InlineData("&#xD800;", "\uFFFD")]
    [InlineData("&#1;x", "x")]
    [InlineData("&#13;", "")]
    [InlineData("&#65;&#x42;", "ab")]
    [InlineData("&#x;", "&#x;")]
    [InlineData("&#;", "&#;")]
    // str.lower: final sigma (case-ignorable characters skipped), full mappings.
    [InlineData("\u039F\u0394\u039F\u03A3", "\u03BF\u03B4\u03BF\u03C2")]
    [InlineData("\u03A3\u0391", "\u03C3\u03B1")]
    [InlineData("\u0391\u03A3'", "\u03B1\u03C2'")]
    [InlineData("\u0391\u03A3'\u0391", "\u03B1\u03C3'\u03B1")]
    [InlineData("\u0391\u03A3 \u0392", "\u03B1\u03C2 \u03B2")]
    [InlineData("\u03A3", "\u03C3")]
    [InlineData("\u1F48\u0394\u03A5\u03A3\u03A3\u0395\u038E\u03A3", "\u1F40\u03B4\u03C5\u03C3\u03C3\u03B5\u03CD\u03C2")]
    [InlineData("\u0130", "i\u0307")]
    [InlineData("\u0130STANBUL", "i\u0307stanbul")]
    [InlineData("\u1E9E", "\u00DF")]
    [InlineData("\u01C5", "\u01C6")]
    // Whitespace: Python's set (U+001C..U+001F, U+0085, U+2028, U+3000, NBSP...), collapsed and stripped.
    [InlineData("  a\u0009\u000A b \u3000c\u00A0 ", "a b c")]
    [InlineData("\u001Ca\u001Db\u001E", "a b")]
    [InlineData("a\u200Bb", "a\u200Bb")]
    [InlineData("\u0085x\u2028y", "x y")]
    [InlineData("Already clean", "already clean")]
    [InlineData("a  b", "a b")]
    [InlineData("", "")]
    [InlineData(" \t\n ", "")]
    public void MatchesPythonCleaning(string input, string expected)
        => Assert.Equal(expected, ClipTextCleaner.Clean(input));

    [Fact]
    public void DiffersFromTheDotNetShortcuts()
    {
        // The reasons for not using WebUtility.HtmlDecode + ToLowerInvariant, kept as evidence.
        Assert.NotEqual(WebUtility.HtmlDecode("&#128;"), ClipTextCleaner.Clean("&#128;"));
        Assert.NotEqual("\u0130".ToLowerInvariant(), ClipTextCleaner.Clean("\u0130"));
        Assert.NotEqual("\u039F\u0394\u039F\u03A3".ToLowerInvariant(), ClipTextCleaner.Clean("\u039F\u0394\u039F\u03A3"));
    }

    [Fact]
    public void CleanAsciiTextIsReturnedWithoutCopying()
    {
        const string text = "a photo of a cat";
        Assert.Same(text, ClipTextCleaner.Clean(text));
    }

    [Fact]
    public void NullIsRejected() => Assert.Throws<ArgumentNullException>(() => ClipTextCleaner.Clean(null!));
}
