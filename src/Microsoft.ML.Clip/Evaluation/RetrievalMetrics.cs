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
/// example) gets rank 1. Real data has duplicates (one caption standing for many images embeds identically for
/// all of them), so <see cref="TiedQueries"/> says how many queries had such ties and the <c>Pessimistic…</c>
/// figures count every tied candidate against the true match; report both when they differ.
/// </remarks>
public sealed class RetrievalDirectionMetrics
{
    private readonly int[] _ranks;
    private readonly int[] _pessimisticRanks;

    internal RetrievalDirectionMetrics(int[] ranks, int[] ties)
    {
        if (ranks.Length == 0)
            throw new ArgumentException("At least one query is needed.", nameof(ranks));
        if (ties.Length != ranks.Length)
            throw new ArgumentException($"{ties.Length} tie counts for {ranks.Length} ranks.", nameof(ties));
        _ranks = ranks;
        _pessimisticRanks = new int[ranks.Length];
        for (int i = 0; i < ranks.Length; i++)
        {
            _pessimisticRanks[i] = ranks[i] + ties[i];
            if (ties[i] > 0) TiedQueries++;
        }
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
        PessimisticRecallAt1 = PessimisticRecallAt(1);
        PessimisticRecallAt5 = PessimisticRecallAt(5);
        PessimisticRecallAt10 = PessimisticRecallAt(10);
    }

    /// <summary>Queries whose true match had at least one other candidate with exactly the same score.</summary>
    public int TiedQueries { get; }

    /// <summary>The rank of each query's true match with every tied candidate placed before it.</summary>
    public IReadOnlyList<int> PessimisticRanks => _pessimisticRanks;

    /// <summary><see cref="RecallAt1"/> with ties counted against the true match.</summary>
    public double PessimisticRecallAt1 { get; }

    /// <summary><see cref="RecallAt5"/> with ties counted against the true match.</summary>
    public double PessimisticRecallAt5 { get; }

    /// <summary><see cref="RecallAt10"/> with ties counted against the true match.</summary>
    public double PessimisticRecallAt10 { get; }

    /// <summary>Fraction of queries whose true match is within the top <paramref name="k"/> with ties counted against it.</summary>
    public double PessimisticRecallAt(int k) => Fraction(_pessimisticRanks, k);

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
    public double RecallAt(int k) => Fraction(_ranks, k);

    private static double Fraction(int[] ranks, int k)
    {
        if (k < 1)
            throw new ArgumentOutOfRangeException(nameof(k), k, "k must be at least 1.");
        int hits = 0;
        foreach (int rank in ranks)
        {
            if (rank <= k)
                hits++;
        }
        return (double)hits / ranks.Length;
    }

    /// <inheritdoc/>
    public override string ToString()
    {
        string text = string.Format(CultureInfo.InvariantCulture,
            "R@1 {0:F4}, R@5 {1:F4}, R@10 {2:F4}, mean rank {3:F2}, median rank {4}", RecallAt1, RecallAt5, RecallAt10, MeanRank, MedianRank);
        return TiedQueries == 0 ? text : text + string.Format(CultureInfo.InvariantCulture,
            "; {0} queries tied with their match (ties against: R@1 {1:F4}, R@5 {2:F4}, R@10 {3:F4})",
            TiedQueries, PessimisticRecallAt1, PessimisticRecallAt5, PessimisticRecallAt10);
    }
}
