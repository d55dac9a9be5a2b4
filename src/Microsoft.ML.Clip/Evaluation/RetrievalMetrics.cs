using System;
using System.Collections.Generic;
using System.Globalization;

namespace Microsoft.ML.Clip.Evaluation;

/// <summary>Image–text retrieval metrics over N pairs, where image i and text i match.</summary>
/// <param name="Count">Number of pairs N (the number of queries and of candidates in each direction).</param>
/// <param name="ImageToText">Each image queries all N texts.</param>
/// <param name="TextToImage">Each text queries all N images.</param>
public sealed record RetrievalMetrics(int Count, RetrievalDirectionMetrics ImageToText, RetrievalDirectionMetrics TextToImage);

/// <summary>
/// Retrieval metrics in one direction, from the 1-based rank of each query's true match among all N
/// candidates: rank = 1 + (number of candidates scored strictly higher than the true match). Candidates with
/// a score equal to the true match's do not push it down, so ties count in the query's favour; a query whose
/// true score is NaN gets rank N.
/// </summary>
/// <remarks>
/// The tie rule is optimistic: duplicate captions or images that score exactly like the true match do not
/// cost it a place, and a query whose scores are all equal (a zero embedding under the default similarity, for
/// example) gets rank 1. Check inputs for degenerate embeddings when the numbers look too good.
/// </remarks>
public sealed class RetrievalDirectionMetrics
{
    private readonly int[] _ranks;

    internal RetrievalDirectionMetrics(int[] ranks)
    {
        if (ranks.Length == 0)
            throw new ArgumentException("At least one query is needed.", nameof(ranks));
        _ranks = ranks;
        long sum = 0;
        foreach (int rank in ranks)
            sum += rank;
        MeanRank = (double)sum / ranks.Length;

        var sorted = (int[])ranks.Clone();
        Array.Sort(sorted);
        int middle = sorted.Length / 2;
        MedianRank = sorted.Length % 2 == 1 ? sorted[middle] : 0.5 * ((double)sorted[middle - 1] + sorted[middle]);

        RecallAt1 = RecallAt(1);
        RecallAt5 = RecallAt(5);
        RecallAt10 = RecallAt(10);
    }

    /// <summary>The 1-based rank of each query's true match, indexed by query.</summary>
    public IReadOnlyList<int> Ranks => _ranks;

    /// <summary>Fraction of queries whose true match is ranked first.</summary>
    public double RecallAt1 { get; }

    /// <summary>Fraction of queries whose true match is within the top 5.</summary>
    public double RecallAt5 { get; }

    /// <summary>Fraction of queries whose true match is within the top 10.</summary>
    public double RecallAt10 { get; }

    /// <summary>Mean of the 1-based ranks (1 is perfect).</summary>
    public double MeanRank { get; }

    /// <summary>Median of the 1-based ranks; for an even number of queries, the mean of the two middle ranks.</summary>
    public double MedianRank { get; }

    /// <summary>Fraction of queries whose true match is ranked within the top <paramref name="k"/> (k ≥ 1).</summary>
    public double RecallAt(int k)
    {
        if (k < 1)
            throw new ArgumentOutOfRangeException(nameof(k), k, "k must be at least 1.");
        int hits = 0;
        foreach (int rank in _ranks)
        {
            if (rank <= k)
                hits++;
        }
        return (double)hits / _ranks.Length;
    }

    /// <inheritdoc/>
    public override string ToString() => string.Format(CultureInfo.InvariantCulture,
        "R@1 {0:F4}, R@5 {1:F4}, R@10 {2:F4}, mean rank {3:F2}, median rank {4}", RecallAt1, RecallAt5, RecallAt10, MeanRank, MedianRank);
}
