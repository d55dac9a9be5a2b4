using System;
using System.Collections.Generic;
using Microsoft.ML.Clip.Torch;
using static TorchSharp.torch;

namespace Microsoft.ML.Clip.Training;

/// <summary>
/// LAMB (You et al., 2020, "Large Batch Optimization for Deep Learning: Training BERT in 76 minutes"), as
/// EVA-CLIP trains with it: Adam moments with bias correction, the decoupled weight decay added to the update,
/// <c>u = m̂ / (√v̂ + ε) + λ·w</c>, and a layer-wise trust ratio <c>r = ‖w‖ / ‖u‖</c> (1 when either norm is 0)
/// so that every tensor moves by <c>lr · r · u</c>, a step proportional to its own norm.
/// Parameters excluded from weight decay (biases, normalization gains, embeddings, the temperature: see
/// <see cref="ParameterGroups.ExcludedFromWeightDecay"/>) take a plain Adam step, without decay and without
/// trust ratio: the ratio of a LayerNorm gain or a scalar temperature says nothing about a layer's scale.
/// </summary>
/// <remarks>
/// Only the step differs from <see cref="AdamW"/>; the moments and the step count are the base class's, so its
/// <see cref="AdamW.StateDict"/> checkpoints LAMB as well. Per-parameter learning-rate scales (layer decay)
/// multiply <c>lr</c> before the trust ratio, as in EVA-CLIP's parameter groups.
/// </remarks>
internal sealed class Lamb : AdamW
{
    private readonly Func<OptimizedParameter, bool> _adapted;

    /// <summary>Creates the optimizer.</summary>
    /// <param name="parameters">The parameters with their weight decay and learning-rate scale.</param>
    /// <param name="beta1">First-moment decay.</param>
    /// <param name="beta2">Second-moment decay.</param>
    /// <param name="epsilon">Denominator term.</param>
    /// <param name="adapted">Which parameters get weight decay and the trust ratio; null: those not excluded by
    /// <see cref="ParameterGroups.ExcludedFromWeightDecay"/> (decided from the name and rank, so a run with zero
    /// weight decay still adapts its matrices).</param>
    public Lamb(IEnumerable<OptimizedParameter> parameters, double beta1 = 0.9, double beta2 = 0.98, double epsilon = 1e-6,
        Func<OptimizedParameter, bool>? adapted = null)
        : base(parameters, beta1, beta2, epsilon)
    {
        _adapted = adapted ?? (p => !ParameterGroups.ExcludedFromWeightDecay(p.Name, p.Parameter));
    }

    /// <summary>Whether <paramref name="parameter"/> gets weight decay and the trust ratio.</summary>
    public bool IsAdapted(OptimizedParameter parameter) => _adapted(parameter);

    /// <inheritdoc/>
    protected override void ApplyUpdate(OptimizedParameter p, Tensor expAvg, Tensor expAvgSq, double lr, double correction1, double correction2)
    {
        using var scope = NewDisposeScope();
        // u = (m / c1) / (√(v / c2) + ε): the bias-corrected Adam direction.
        var denominator = ScalarSafe.AddInPlace(ScalarSafe.DivInPlace(expAvgSq.sqrt(), Math.Sqrt(correction2)), Epsilon);
        var update = ScalarSafe.DivInPlace(expAvg.div(denominator), correction1);
        if (!_adapted(p))
        {
            ScalarSafe.AddInPlace(p.Parameter, update, -lr);
            return;
        }
        if (p.WeightDecay != 0)
            ScalarSafe.AddInPlace(update, p.Parameter, p.WeightDecay);
        // r = ‖w‖ / ‖u‖ (1 when either is 0), on the parameter's device: reading the norms back would stop a GPU twice
        // per tensor and step. In float64, so the ratio of two large sums keeps its precision.
        var weightNorm = Norm(p.Parameter);
        var updateNorm = Norm(update);
        var usable = weightNorm.gt(ScalarSafe.Full([], 0, ScalarType.Float64, weightNorm.device))
            .logical_and(updateNorm.gt(ScalarSafe.Full([], 0, ScalarType.Float64, updateNorm.device)));
        var trust = where(usable, weightNorm.div(updateNorm), ScalarSafe.Full([], 1, ScalarType.Float64, weightNorm.device));
        // w ← w − lr·r·u, with lr·r rounded to the parameter's dtype as a scalar step size would be.
        var step = ScalarSafe.Mul(trust, -lr).to(p.Parameter.dtype);
        ScalarSafe.AddInPlace(p.Parameter, update.mul(step));
    }

    // √Σx² without pow()/square(), whose exponent would be an implicit Scalar (see ScalarSafe); float64, 0-dim.
    private static Tensor Norm(Tensor t)
    {
        var t64 = t.to(ScalarType.Float64);
        return t64.mul(t64).sum().sqrt();
    }
}
