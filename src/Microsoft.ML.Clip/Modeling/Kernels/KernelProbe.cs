using System;
using System.Collections.Generic;
using System.Linq;
using static TorchSharp.torch;

namespace Microsoft.ML.Clip.Modeling.Kernels;

/// <summary>
/// An operation to check: the computation under test (run in the dtype of its inputs), the float64 reference
/// (by default the same computation, which on the CPU takes ATen's double kernels instead of oneDNN's or MKL's
/// single-precision ones), sample inputs and the reduction lengths that size the tolerances.
/// </summary>
internal sealed class KernelProbe
{
    /// <summary>Creates a probe.</summary>
    /// <param name="name">Operation name used in reports, e.g. <c>conv2d[im2col] 3→8 k3 s2 p1 on [4,3,32,32]</c>.</param>
    /// <param name="inputs">Inputs in the order <paramref name="compute"/> takes them.</param>
    /// <param name="compute">The operation under test; it computes in the dtype of its inputs.</param>
    /// <param name="outputReduction">Longest sum behind one output element (1 for elementwise operations).</param>
    /// <param name="roundings">Results stored in the low-precision dtype along the way (see <see cref="KernelTolerance"/>).</param>
    /// <param name="reference">The float64 computation; null means <paramref name="compute"/> itself on float64 inputs.</param>
    public KernelProbe(string name, IReadOnlyList<KernelInput> inputs, Func<Tensor[], Tensor> compute, long outputReduction,
                       int roundings = 1, Func<Tensor[], Tensor>? reference = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        ArgumentNullException.ThrowIfNull(inputs);
        ArgumentNullException.ThrowIfNull(compute);
        if (inputs.Count == 0) throw new ArgumentException("A probe needs at least one input.", nameof(inputs));
        if (outputReduction < 1) throw new ArgumentOutOfRangeException(nameof(outputReduction), outputReduction, "must be at least 1");
        if (roundings < 1) throw new ArgumentOutOfRangeException(nameof(roundings), roundings, "must be at least 1");
        Name = name;
        Inputs = inputs.ToArray();
        Compute = compute;
        Reference = reference ?? compute;
        OutputReduction = outputReduction;
        Roundings = roundings;
    }

    /// <summary>Operation name used in reports.</summary>
    public string Name { get; }

    /// <summary>Inputs in the order the computations take them.</summary>
    public IReadOnlyList<KernelInput> Inputs { get; }

    /// <summary>The operation under test.</summary>
    public Func<Tensor[], Tensor> Compute { get; }

    /// <summary>The float64 computation it is judged against.</summary>
    public Func<Tensor[], Tensor> Reference { get; }

    /// <summary>Longest sum behind one output element.</summary>
    public long OutputReduction { get; }

    /// <summary>Low-precision results stored along the way.</summary>
    public int Roundings { get; }
}
