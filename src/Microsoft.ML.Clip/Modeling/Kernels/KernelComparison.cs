using System.Globalization;

namespace Microsoft.ML.Clip.Modeling.Kernels;

/// <summary>One result (an output or a gradient) of a kernel check against its float64 reference.</summary>
/// <param name="What">Which result: <c>forward</c>, <c>grad input</c>, <c>grad weight</c>, ...</param>
/// <param name="MaxError">max |kernel − reference| (NaN when the kernel produced a NaN).</param>
/// <param name="Scale">max |reference|.</param>
/// <param name="Tolerance">The allowed max |kernel − reference|.</param>
internal sealed record KernelComparison(string What, double MaxError, double Scale, double Tolerance)
{
    /// <summary>Whether the error is within tolerance (false for NaN).</summary>
    public bool Passed => MaxError <= Tolerance;

    /// <summary>The error as a multiple of the tolerance (above 1 fails).</summary>
    public double ErrorRatio => Tolerance > 0 ? MaxError / Tolerance : double.PositiveInfinity;

    /// <inheritdoc/>
    public override string ToString() => string.Create(CultureInfo.InvariantCulture,
        $"{What}: max err {MaxError:E2} (tol {Tolerance:E2}, max |ref| {Scale:E2})");
}
