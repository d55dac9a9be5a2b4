using System;
using System.Linq;
using Microsoft.ML.Clip.Torch;
using Xunit;
using static TorchSharp.torch;

namespace Microsoft.ML.Clip.Tests.Torch;

/// <summary>The counter-based draws behind FLIP's masks: distinct keys, reproducible, and uniform subsets.</summary>
public class CounterHashTests
{
    [Fact]
    public void KeysAreDistinctReproducibleAndChangeWithTheCounterAndSeed()
    {
        using var scope = NewDisposeScope();
        var a = CounterHash.PermutationKeys(3, 7, 4, 49, CPU);
        Assert.Equal(new long[] { 4, 49 }, a.shape);
        for (int r = 0; r < 4; r++) Assert.Equal(49, a[r].data<long>().ToArray().Distinct().Count());
        Assert.Equal(a.data<long>().ToArray(), CounterHash.PermutationKeys(3, 7, 4, 49, CPU).data<long>().ToArray());
        Assert.NotEqual(a.argsort(1).data<long>().ToArray(), CounterHash.PermutationKeys(3, 8, 4, 49, CPU).argsort(1).data<long>().ToArray());
        Assert.NotEqual(a.argsort(1).data<long>().ToArray(), CounterHash.PermutationKeys(4, 7, 4, 49, CPU).argsort(1).data<long>().ToArray());
    }

    [Fact]
    public void TheFirstHalfOfEachPermutationIsAUniformSubset()
    {
        // 4,000 rows (500 counters × 8 rows) keep 8 of 16 positions: each position is kept with probability ½, so its
        // frequency has σ = √(¼ / 4000) ≈ 0.0079; 5σ = 0.04 fails a biased hash (a position kept 60 % of the time)
        // but not chance (all 16 positions within 5σ: p > 0.99).
        using var scope = NewDisposeScope();
        var kept = new double[16];
        for (long counter = 0; counter < 500; counter++)
            foreach (long p in CounterHash.PermutationKeys(11, counter, 8, 16, CPU).argsort(1).narrow(1, 0, 8).data<long>().ToArray())
                kept[p]++;
        Assert.All(kept, k => Assert.InRange(k / 4000, 0.5 - 0.04, 0.5 + 0.04));
    }
}
