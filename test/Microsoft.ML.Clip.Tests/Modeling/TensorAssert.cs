using System;
using System.Linq;
using Xunit;
using static TorchSharp.torch;

namespace Microsoft.ML.Clip.Tests.Modeling;

/// <summary>Elementwise closeness checks that report the worst element.</summary>
internal static class TensorAssert
{
    /// <summary>
    /// Asserts |a − b| ≤ atol + rtol·|b| everywhere (b is the reference) and returns max |a − b|.
    /// </summary>
    public static double Close(Tensor actual, Tensor expected, double atol, double rtol, string what)
    {
        Assert.True(actual.shape.SequenceEqual(expected.shape),
            $"{what}: shape [{string.Join(", ", actual.shape)}] differs from the reference [{string.Join(", ", expected.shape)}].");
        using var a = actual.detach().to(ScalarType.Float64).cpu();
        using var b = expected.detach().to(ScalarType.Float64).cpu();
        using var diff = (a - b).abs();
        using var bound = b.abs() * rtol + atol;
        using var excess = diff - bound;
        double maxDiff = diff.numel() == 0 ? 0 : diff.max().item<double>();
        double worst = excess.numel() == 0 ? double.NegativeInfinity : excess.max().item<double>();
        Assert.False(double.IsNaN(maxDiff), $"{what}: NaN in the comparison.");
        Assert.True(worst <= 0, $"{what}: max |a−b| = {maxDiff:E3} exceeds {atol:E0} + {rtol:E0}·|b|.");
        return maxDiff;
    }

    /// <summary>
    /// Asserts that <paramref name="model"/> has exactly the parameters the reference gradients <c>grad.&lt;name&gt;</c> of
    /// <paramref name="io"/> name, each with a gradient within atol + rtol·|reference|; returns the worst |a − b| and its name.
    /// </summary>
    public static (double Worst, string Name, int Count) EveryGradient(TorchSharp.torch.nn.Module model,
        System.Collections.Generic.IReadOnlyDictionary<string, Tensor> io, double atol, double rtol)
    {
        var parameters = model.named_parameters().ToList();
        var expectedNames = io.Keys.Where(k => k.StartsWith("grad.", StringComparison.Ordinal)).Select(k => k["grad.".Length..]).OrderBy(k => k, StringComparer.Ordinal).ToList();
        Assert.Equal(expectedNames, parameters.Select(p => p.name).OrderBy(k => k, StringComparer.Ordinal).ToList());
        double worst = 0;
        string worstName = "";
        foreach (var (name, parameter) in parameters)
        {
            Assert.NotNull(parameter.grad);
            double e = Close(parameter.grad!, io["grad." + name], atol, rtol, "gradient of " + name);
            if (e > worst) (worst, worstName) = (e, name);
        }
        return (worst, worstName, parameters.Count);
    }
}
