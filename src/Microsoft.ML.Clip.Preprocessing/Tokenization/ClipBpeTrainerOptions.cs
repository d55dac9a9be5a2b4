using System;

namespace Microsoft.ML.Clip.Tokenization;

/// <summary>Settings of <see cref="ClipBpeTrainer.Train"/>.</summary>
public sealed record ClipBpeTrainerOptions
{
    /// <summary>The smallest vocabulary: the 512 byte symbols (256 bytes, the same 256 ending a word) and the 2 special tokens.</summary>
    public const int MinimumVocabularySize = 256 + 256 + 2;

    /// <summary>
    /// The most tokens the vocabulary may hold, counting the 512 byte symbols and the 2 special tokens, so at most
    /// <c>VocabularySize − 514</c> merges are learned (OpenAI's CLIP vocabulary has 49408). Training stops earlier when
    /// no pair of symbols occurs <see cref="MinFrequency"/> times. This is the size of the text tower's token
    /// embedding table.
    /// </summary>
    public int VocabularySize { get; init; } = 8192;

    /// <summary>
    /// A pair of adjacent symbols is merged only if it occurs at least this often in the corpus (word occurrences,
    /// not distinct words). 2 (the default) never learns a merge from a single occurrence.
    /// </summary>
    public int MinFrequency { get; init; } = 2;

    /// <summary>
    /// When set, merges are learned from only this many distinct words, the most frequent ones (ties in ordinal order
    /// of the words), which bounds the memory and time of merging on huge, long-tailed corpora. Every word is still
    /// counted first. Null (the default): all distinct words.
    /// </summary>
    public int? MaxWordsConsidered { get; init; }

    /// <summary>Checks the values; the message names the setting.</summary>
    /// <exception cref="ArgumentOutOfRangeException">A setting is out of range.</exception>
    public void Validate()
    {
        if (VocabularySize < MinimumVocabularySize)
            throw new ArgumentOutOfRangeException(nameof(VocabularySize), VocabularySize,
                $"The vocabulary size must be at least {MinimumVocabularySize}: the 512 byte symbols and the 2 special tokens.");
        if (MinFrequency < 1)
            throw new ArgumentOutOfRangeException(nameof(MinFrequency), MinFrequency, "The minimum frequency must be at least 1.");
        if (MaxWordsConsidered is < 1)
            throw new ArgumentOutOfRangeException(nameof(MaxWordsConsidered), MaxWordsConsidered, "The number of words considered must be at least 1.");
    }
}
