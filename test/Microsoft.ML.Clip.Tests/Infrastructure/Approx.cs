using System;
using Xunit;

namespace Microsoft.ML.Clip.Tests;

/// <summary>
/// Closeness checks for values that two different computations produce (another batch size, thread count or
/// kernel): |actual − expected| ≤ atol + rtol·|expected|, reporting the worst element. Each caller states why its
/// tolerance has its size. Bitwise equality (<c>Assert.Equal</c>) stays for the same kernels on the same data.
/// </summary>
internal static class Approx
{
    /// <summary>Asserts one value is close to the reference; returns |actual − expected|.</summary>
    public static double Equal(double expected, double actual, double atol, double rtol, string what)
    {
        double diff = Math.Abs(actual - expected);
        Assert.False(double.IsNaN(diff), $"{what}: NaN ({expected} vs {actual}).");
        Assert.True(diff <= atol + rtol * Math.Abs(expected),
            $"{what}: |{actual:R} − {expected:R}| = {diff:E3} exceeds {atol:E1} + {rtol:E1}·|expected|.");
        return diff;
    }

    /// <summary>Asserts two arrays of one length are close elementwise; returns max |actual − expected|.</summary>
    public static double Equal(float[] expected, float[] actual, double atol, double rtol, string what)
    {
        Assert.True(expected.Length == actual.Length, $"{what}: length {actual.Length}, expected {expected.Length}.");
        double maxDiff = 0, worstExcess = double.NegativeInfinity;
        int worst = -1;
        for (int i = 0; i < expected.Length; i++)
        {
            double diff = Math.Abs((double)actual[i] - expected[i]);
            Assert.False(double.IsNaN(diff), $"{what}: NaN at [{i}] ({expected[i]} vs {actual[i]}).");
            maxDiff = Math.Max(maxDiff, diff);
            double excess = diff - (atol + rtol * Math.Abs(expected[i]));
            if (excess > worstExcess) { worstExcess = excess; worst = i; }
        }
        Assert.True(worstExcess <= 0,
            $"{what}: at [{worst}] {actual[worst]:R} vs {expected[worst]:R} (max |Δ| {maxDiff:E3}) exceeds {atol:E1} + {rtol:E1}·|expected|.");
        return maxDiff;
    }

    /// <summary>Max |a − b| over two arrays of one length.</summary>
    public static double MaxDiff(float[] a, float[] b)
    {
        Assert.Equal(a.Length, b.Length);
        double max = 0;
        for (int i = 0; i < a.Length; i++) max = Math.Max(max, Math.Abs((double)a[i] - b[i]));
        return max;
    }
}
