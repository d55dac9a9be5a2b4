using System;
using System.Collections.Generic;
using System.Text;

namespace Microsoft.ML.Clip.SampleData.Shapes;

/// <summary>
/// Writes captions. Varied captions mix word orders, sentence frames, synonyms for sizes and positions, and
/// sometimes leave the size or the position out, so that a text tower has to read words rather than match one
/// fixed string per class. Colour and shape are always named, with their canonical words, because zero-shot
/// classification and held-out combinations are about exactly those two.
/// </summary>
internal static class ShapeCaptions
{
    private static readonly string[][] SizeWords =
    [
        ["small", "small", "little"],
        ["medium", "medium-sized"],
        ["large", "large", "big"],
    ];

    // Indexed by ShapePosition; the first phrase is the canonical one.
    private static readonly string[][] PositionPhrases =
    [
        ["in the top left corner", "at the top left", "in the upper left"],
        ["at the top", "at the top center", "near the top"],
        ["in the top right corner", "at the top right", "in the upper right"],
        ["on the left", "on the left side", "at the left"],
        ["in the center", "in the middle", "at the center"],
        ["on the right", "on the right side", "at the right"],
        ["in the bottom left corner", "at the bottom left", "in the lower left"],
        ["at the bottom", "at the bottom center", "near the bottom"],
        ["in the bottom right corner", "at the bottom right", "in the lower right"],
    ];

    // Positions as bare nouns, for list-style captions ("red circle, small, left side").
    private static readonly string[] PositionNouns =
    [
        "top left corner", "top", "top right corner", "left side", "center", "right side",
        "bottom left corner", "bottom", "bottom right corner",
    ];

    private const int SingleTemplateCount = 14;

    public static string Write(IReadOnlyList<ShapeObject> objects, bool varied, ref DeterministicRandom rng)
    {
        if (objects.Count == 1)
            return varied ? Single(objects[0], rng.NextInt(SingleTemplateCount), ref rng) : Canonical(objects[0]);
        if (!varied)
            return JoinList(Map(objects, Canonical));

        // Mention the shapes in a random order: a caption is not a list sorted by importance.
        var order = new ShapeObject[objects.Count];
        for (int i = 0; i < order.Length; i++)
            order[i] = objects[i];
        for (int i = order.Length - 1; i > 0; i--)
        {
            int j = rng.NextInt(i + 1);
            (order[i], order[j]) = (order[j], order[i]);
        }
        var phrases = new string[order.Length];
        for (int i = 0; i < order.Length; i++)
        {
            var o = order[i];
            string colour = ShapesVocabulary.Name(o.Colour), shape = ShapesVocabulary.Name(o.Shape);
            phrases[i] = rng.NextInt(3) == 0
                ? WithArticle($"{colour} {shape} {Position(o, ref rng)}")
                : WithArticle($"{Size(o, ref rng)} {colour} {shape} {Position(o, ref rng)}");
        }
        string list = JoinList(phrases);
        return rng.NextInt(4) switch
        {
            0 => list,
            1 => "a photo of " + list,
            2 => "an image with " + list,
            _ => "a picture showing " + list,
        };
    }

    /// <summary>The one canonical description: "a small red circle on the left".</summary>
    public static string Canonical(ShapeObject o) => WithArticle(
        $"{ShapesVocabulary.Name(o.Size)} {ShapesVocabulary.Name(o.Colour)} {ShapesVocabulary.Name(o.Shape)} {PositionPhrases[(int)o.Position][0]}");

    private static string Single(ShapeObject o, int template, ref DeterministicRandom rng)
    {
        string c = ShapesVocabulary.Name(o.Colour), h = ShapesVocabulary.Name(o.Shape);
        string s = Size(o, ref rng), p = Position(o, ref rng);
        return template switch
        {
            0 => WithArticle($"{s} {c} {h} {p}"),
            1 => "a photo of " + WithArticle($"{s} {c} {h} {p}"),
            2 => $"{c} {h}, {s}, {PositionNouns[(int)o.Position]}",
            3 => $"{p}, " + WithArticle($"{s} {c} {h}"),
            4 => "there is " + WithArticle($"{s} {c} {h} {p}"),
            5 => WithArticle($"{c} {h} {p}"),
            6 => WithArticle($"{s} {c} {h}"),
            7 => WithArticle($"{s} {h} in {c}, {p}"),
            8 => $"a picture of the {s} {c} {h} {p}",
            9 => $"the {h} {p} is {c} and {s}",
            10 => $"{s} {c} {h} {p}",
            11 => "a drawing of " + WithArticle($"{c} {h}"),
            12 => WithArticle($"{c} {h} shape, {s}, {p}"),
            _ => "an image with " + WithArticle($"{s} {c} {h} {p}"),
        };
    }

    private static string Size(ShapeObject o, ref DeterministicRandom rng)
    {
        string[] words = SizeWords[(int)o.Size];
        return words[rng.NextInt(words.Length)];
    }

    private static string Position(ShapeObject o, ref DeterministicRandom rng)
    {
        string[] phrases = PositionPhrases[(int)o.Position];
        return phrases[rng.NextInt(phrases.Length)];
    }

    /// <summary>"a" or "an", chosen by the first letter of the phrase (every word here is pronounced as spelled).</summary>
    private static string WithArticle(string phrase) =>
        ("aeiou".IndexOf(phrase[0]) >= 0 ? "an " : "a ") + phrase;

    /// <summary>"A and B", "A, B and C".</summary>
    private static string JoinList(IReadOnlyList<string> items)
    {
        var text = new StringBuilder(items[0]);
        for (int i = 1; i < items.Count; i++)
            text.Append(i == items.Count - 1 ? " and " : ", ").Append(items[i]);
        return text.ToString();
    }

    private static string[] Map(IReadOnlyList<ShapeObject> objects, Func<ShapeObject, string> f)
    {
        var result = new string[objects.Count];
        for (int i = 0; i < result.Length; i++)
            result[i] = f(objects[i]);
        return result;
    }
}
