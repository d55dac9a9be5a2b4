using System;
using System.Collections.Generic;
using static TorchSharp.torch;

namespace Microsoft.ML.Clip.Modeling.Kernels;

/// <summary>
/// Runs a <see cref="KernelProbe"/> forward and backward in a low-precision dtype and in float64 on the same data,
/// and compares the output and every input gradient against tolerances from <see cref="KernelTolerance"/>.
/// </summary>
/// <remarks>
/// The low-precision inputs are drawn in float64 and rounded to the dtype; the reference then starts from exactly
/// those rounded values, so only the kernel's own arithmetic is judged, not the rounding of its inputs. The same
/// holds for the upstream gradient fed to backward. Sample data comes from a private generator: checks never
/// advance libtorch's global random stream, so a training run that checks a kernel on its first step draws the
/// same dropout masks and initialisations as one that does not.
/// </remarks>
internal static class KernelCheck
{
    /// <summary>Checks <paramref name="probe"/> in <paramref name="dtype"/> (Float32, BFloat16 or Float16) on the CPU.</summary>
    /// <param name="probe">The operation.</param>
    /// <param name="dtype">The dtype of the kernel under test.</param>
    /// <param name="seed">Seed of the sample data.</param>
    public static KernelCheckResult Run(KernelProbe probe, ScalarType dtype, ulong seed = 20261201)
    {
        ArgumentNullException.ThrowIfNull(probe);
        if (dtype is not (ScalarType.Float32 or ScalarType.BFloat16 or ScalarType.Float16))
            throw new ArgumentException($"Kernel checks judge Float32, BFloat16 or Float16 kernels against float64; got {dtype}.", nameof(dtype));

        using var scope = NewDisposeScope();
        using var generator = new Generator(seed);
        using var gradMode = enable_grad();
        var samples = new Tensor[probe.Inputs.Count];
        for (int i = 0; i < samples.Length; i++) samples[i] = probe.Inputs[i].Draw(generator).to(dtype);

        var (output, grads) = Evaluate(probe.Compute, probe, samples, generator, seed, null);
        var (refOutput, refGrads) = Evaluate(probe.Reference, probe, samples, generator, seed, ScalarType.Float64);

        var comparisons = new List<KernelComparison>
        {
            Compare("forward", output, refOutput, KernelTolerance.Relative(dtype, probe.OutputReduction, probe.Roundings)),
        };
        for (int i = 0; i < samples.Length; i++)
        {
            if (!probe.Inputs[i].RequiresGrad) continue;
            double relative = KernelTolerance.Relative(dtype, probe.Inputs[i].GradReduction, probe.Roundings);
            comparisons.Add(Compare("grad " + probe.Inputs[i].Name, grads[i]!, refGrads[i]!, relative));
        }
        return new KernelCheckResult(probe.Name, dtype, comparisons);
    }

    // Forward then backward with a random upstream gradient (drawn with its own seed so both runs get the same one,
    // rounded to the kernel's output dtype); a scalar output gets 1.
    private static (Tensor Output, Tensor?[] Grads) Evaluate(Func<Tensor[], Tensor> compute, KernelProbe probe, Tensor[] samples,
                                                              Generator generator, ulong seed, ScalarType? castTo)
    {
        var leaves = new Tensor[samples.Length];
        for (int i = 0; i < samples.Length; i++)
        {
            var t = castTo is { } dt ? samples[i].to(dt) : samples[i].clone();
            leaves[i] = t.detach().requires_grad_(probe.Inputs[i].RequiresGrad);
        }
        var output = compute(leaves);
        generator.manual_seed(unchecked((long)seed + 1));
        Tensor upstream;
        if (output.numel() == 1) upstream = ones_like(output);
        else
        {
            var lowPrecision = castTo is null ? output.dtype : samples[0].dtype;
            upstream = randn(output.shape, ScalarType.Float64, generator: generator).to(lowPrecision).to(output.dtype);
        }
        output.backward([upstream]);
        var grads = new Tensor?[leaves.Length];
        for (int i = 0; i < leaves.Length; i++) grads[i] = probe.Inputs[i].RequiresGrad ? leaves[i].grad : null;
        return (output.detach(), grads);
    }

    private static KernelComparison Compare(string what, Tensor actual, Tensor reference, double relative)
    {
        if (!actual.shape.AsSpan().SequenceEqual(reference.shape))
            throw new InvalidOperationException($"{what}: the kernel's shape [{string.Join(", ", actual.shape)}] differs from the reference's [{string.Join(", ", reference.shape)}].");
        using var scope = NewDisposeScope();
        var a = actual.detach().to(ScalarType.Float64);
        var b = reference.detach().to(ScalarType.Float64);
        double maxError = (a - b).abs().max().item<double>();
        if (a.isnan().any().item<bool>()) maxError = double.NaN;
        double scale = b.abs().max().item<double>();
        return new KernelComparison(what, maxError, scale, relative * scale);
    }
}
