using System;
using System.Collections.Generic;
using System.Linq;
using Microsoft.ML.Clip.Torch;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Clip.Training.Objectives.WenLan;

/// <summary>
/// Exponential-moving-average copies of modules (MoCo / WenLan momentum encoders, MaskCLIP's mean teacher):
/// <c>θ_k ← m·θ_k + (1 − m)·θ_q</c>, applied to parameters and to floating-point buffers alike, under no_grad.
/// </summary>
internal static class MomentumCopy
{
    /// <summary>Copies every parameter and buffer of <paramref name="source"/> into <paramref name="target"/>
    /// (same structure) and freezes the target: a momentum copy never receives a gradient.</summary>
    public static void InitializeFrom(nn.Module target, nn.Module source)
    {
        using var scope = NewDisposeScope();
        using (no_grad())
            foreach (var (_, t, s) in Pairs(target, source))
                t.copy_(s);
        foreach (var p in target.parameters()) p.requires_grad = false;
    }

    /// <summary>
    /// <c>target ← m·target + (1 − m)·source</c> for every tensor pair, in place, except those <paramref name="locked"/>
    /// names (the source's locked parameters and their modules' buffers): they never change, so their copy stays exact
    /// rather than drifting by the rounding of <c>m·x + (1 − m)·x</c>.
    /// </summary>
    public static void Update(nn.Module target, nn.Module source, double momentum, Func<string, bool>? locked = null)
    {
        if (momentum < 0 || momentum > 1)
            throw new ArgumentOutOfRangeException(nameof(momentum), momentum, "Momentum must be in [0, 1].");
        using var scope = NewDisposeScope();
        using (no_grad())
            foreach (var (name, t, s) in Pairs(target, source))
            {
                if (locked?.Invoke(name) == true) continue;
                if (!t.is_floating_point())
                {
                    t.copy_(s); // integer buffers (counters) follow the source
                    continue;
                }
                // lerp_(s, 1 − m) = t + (1 − m)(s − t) = m·t + (1 − m)·s; written with the scalar-safe helpers.
                ScalarSafe.MulInPlace(t, momentum);
                ScalarSafe.AddInPlace(t, s.to(t.dtype), 1 - momentum);
            }
    }

    /// <summary>Parameters then buffers of the two modules, matched by name (the structures must agree).</summary>
    private static IEnumerable<(string Name, Tensor Target, Tensor Source)> Pairs(nn.Module target, nn.Module source)
    {
        var sourceParameters = source.named_parameters().ToDictionary(p => p.name, p => (Tensor)p.parameter);
        foreach (var (name, parameter) in target.named_parameters())
            yield return (name, parameter, sourceParameters.TryGetValue(name, out var s) ? s
                : throw new ArgumentException($"The momentum copy has a parameter '{name}' that its source lacks."));
        var sourceBuffers = source.named_buffers().ToDictionary(p => p.name, p => p.buffer);
        foreach (var (name, buffer) in target.named_buffers())
            yield return (name, buffer, sourceBuffers.TryGetValue(name, out var s) ? s
                : throw new ArgumentException($"The momentum copy has a buffer '{name}' that its source lacks."));
    }
}
