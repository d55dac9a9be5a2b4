using System;
using static TorchSharp.torch;

namespace Microsoft.ML.Clip.Modeling.Kernels;

/// <summary>
/// How far a kernel's result may be from a float64 computation of the same operation on the same (already rounded)
/// data, as a fraction of the reference's largest magnitude. Beyond it the kernel is considered wrong.
/// </summary>
/// <remarks>
/// <para>The model: <c>tolerance = max|reference| · (roundings · 4 · u(dtype) + 16 · u(fp32) · √K)</c>.</para>
/// <para>Rounding term: every result stored in the kernel's dtype carries one rounding of relative size u(dtype)
/// (2⁻²⁴ for fp32, 2⁻⁸ for bf16); an operation made of several stored steps (attention: scores, probabilities,
/// output) carries one per step. The factor 4 leaves room for a few ulp of transcendental functions (exp, erf) and
/// for the amplification of one step's rounding by the next.</para>
/// <para>Accumulation term: a reduction of length K (a dot product's inner dimension, a weight gradient's
/// N·H·W) in fp32 — bf16 kernels of oneDNN, MKL and ATen accumulate in fp32 too — errs like a random walk of K
/// roundings of the partial sums, about u·√K relative to a result whose terms have random signs (the checks use
/// random data, so the worst case γ_K = K·u, which assumes every rounding has the same sign, is far too loose).
/// The factor 16 covers blocked and vectorised summation orders with a wide margin: measured errors are below a
/// tenth of the bound, while a wrong kernel (the Zen 5 weight gradient was 33 % off) exceeds it by orders of
/// magnitude.</para>
/// <para>Scaling by the largest magnitude instead of elementwise: gradients have entries near zero whose relative
/// error is meaningless; their absolute error follows the size of the terms summed, which the largest entry
/// represents.</para>
/// </remarks>
internal static class KernelTolerance
{
    private const double RoundingFactor = 4;
    private const double AccumulationFactor = 16;

    /// <summary>Unit roundoff (half an ulp of 1) of a floating-point dtype.</summary>
    public static double UnitRoundoff(ScalarType dtype) => dtype switch
    {
        ScalarType.Float64 => Math.Pow(2, -53),
        ScalarType.Float32 => Math.Pow(2, -24),
        ScalarType.Float16 => Math.Pow(2, -11),
        ScalarType.BFloat16 => Math.Pow(2, -8),
        _ => throw new ArgumentException($"{dtype} is not a floating-point dtype a kernel check can judge.", nameof(dtype)),
    };

    /// <summary>The allowed error relative to max|reference| (see the remarks for the model).</summary>
    /// <param name="dtype">The dtype the kernel computed and stored its result in.</param>
    /// <param name="reductionLength">The longest sum behind one result element (1 for elementwise operations).</param>
    /// <param name="roundings">Results stored in <paramref name="dtype"/> along the way (1 for a single kernel).</param>
    public static double Relative(ScalarType dtype, long reductionLength, int roundings = 1)
    {
        if (reductionLength < 1) throw new ArgumentOutOfRangeException(nameof(reductionLength), reductionLength, "must be at least 1");
        if (roundings < 1) throw new ArgumentOutOfRangeException(nameof(roundings), roundings, "must be at least 1");
        return roundings * RoundingFactor * UnitRoundoff(dtype)
             + AccumulationFactor * UnitRoundoff(ScalarType.Float32) * Math.Sqrt(reductionLength);
    }
}
