using System.Collections.Generic;
using System.Linq;
using static TorchSharp.torch;

namespace Microsoft.ML.Clip.Modeling.Kernels;

/// <summary>The outcome of checking one operation in one dtype: its output and every input gradient.</summary>
/// <param name="Operation">The probe's name.</param>
/// <param name="DType">The dtype the kernel ran in.</param>
/// <param name="Comparisons">Forward first, then one per differentiated input.</param>
internal sealed record KernelCheckResult(string Operation, ScalarType DType, IReadOnlyList<KernelComparison> Comparisons)
{
    /// <summary>Whether every comparison is within tolerance.</summary>
    public bool Passed => Comparisons.All(c => c.Passed);

    /// <summary>The comparison furthest from (or over) its tolerance.</summary>
    public KernelComparison Worst => Comparisons.OrderByDescending(c => double.IsNaN(c.MaxError) ? double.PositiveInfinity : c.ErrorRatio).First();

    /// <summary>One line: operation, dtype, verdict and the worst comparison.</summary>
    public override string ToString() => $"{Operation} {DType}: {(Passed ? "OK" : "FAIL")}, worst {Worst}";
}
