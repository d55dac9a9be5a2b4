using System;
using System.Collections.Generic;
using System.Linq;
using Microsoft.ML.Clip.Torch;
using static TorchSharp.torch;

namespace Microsoft.ML.Clip.Training;

/// <summary>
/// AdamW (Loshchilov &amp; Hutter): Adam moments with bias correction and decoupled weight decay, per-parameter
/// weight decay and learning-rate scale. Written here rather than taken from TorchSharp so that its whole
/// state is plain named tensors: checkpoints store it in safetensors and restore it exactly.
/// </summary>
internal class AdamW
{
    private readonly List<OptimizedParameter> _parameters;
    private readonly Dictionary<string, (Tensor ExpAvg, Tensor ExpAvgSq)> _state = new();

    /// <summary>An optimizer over <paramref name="parameters"/> (names must be unique); moment buffers are created on the first step.</summary>
    public AdamW(IEnumerable<OptimizedParameter> parameters, double beta1 = 0.9, double beta2 = 0.98, double epsilon = 1e-6)
    {
        _parameters = parameters.ToList();
        var duplicate = _parameters.GroupBy(p => p.Name).FirstOrDefault(g => g.Count() > 1);
        if (duplicate is not null) throw new ArgumentException($"Parameter '{duplicate.Key}' is listed twice.");
        Beta1 = beta1;
        Beta2 = beta2;
        Epsilon = epsilon;
    }

    /// <summary>β1: decay of the running mean of gradients (first moment).</summary>
    public double Beta1 { get; }

    /// <summary>β2: decay of the running mean of squared gradients (second moment).</summary>
    public double Beta2 { get; }

    /// <summary>ε added to the square root of the second moment before dividing, so tiny moments do not blow up the step.</summary>
    public double Epsilon { get; }

    /// <summary>Updates applied so far (saved in checkpoints; drives the bias correction).</summary>
    public long StepCount { get; protected set; }

    /// <summary>The parameters this optimizer updates, each with its weight-decay and learning-rate scale.</summary>
    public IReadOnlyList<OptimizedParameter> Parameters => _parameters;

    /// <summary>Applies one update with learning rate <paramref name="learningRate"/> (before per-parameter scales).</summary>
    /// <param name="learningRate">The scheduled learning rate.</param>
    /// <param name="gradients">Gradients by parameter name (fp32, same shapes); null: each parameter's own <c>.grad</c>.
    /// Mixed-precision training passes the fp32 copies of the bf16 model's gradients here.</param>
    public void Step(double learningRate, IReadOnlyDictionary<string, Tensor>? gradients = null)
    {
        StepCount++;
        double correction1 = 1 - Math.Pow(Beta1, StepCount);
        double correction2 = 1 - Math.Pow(Beta2, StepCount);
        using var noGrad = no_grad();
        foreach (var p in _parameters)
        {
            var grad = gradients is null ? p.Parameter.grad : gradients.GetValueOrDefault(p.Name);
            if (grad is null) continue;
            var (expAvg, expAvgSq) = State(p);
            double lr = learningRate * p.LearningRateScale;
            // In-place updates: no temporaries per parameter beyond the denominator.
            ScalarSafe.AddInPlace(ScalarSafe.MulInPlace(expAvg, Beta1), grad, 1 - Beta1);
            ScalarSafe.AddcmulInPlace(ScalarSafe.MulInPlace(expAvgSq, Beta2), grad, grad, 1 - Beta2);
            ApplyUpdate(p, expAvg, expAvgSq, lr, correction1, correction2);
        }
    }

    /// <summary>Moves the parameter given its updated moments (AdamW; LAMB overrides this).</summary>
    protected virtual void ApplyUpdate(OptimizedParameter p, Tensor expAvg, Tensor expAvgSq, double lr, double correction1, double correction2)
    {
        using var denominator = ScalarSafe.AddInPlace(ScalarSafe.DivInPlace(expAvgSq.sqrt(), Math.Sqrt(correction2)), Epsilon);
        if (p.WeightDecay != 0)
            ScalarSafe.MulInPlace(p.Parameter, 1 - lr * p.WeightDecay);
        ScalarSafe.AddcdivInPlace(p.Parameter, expAvg, denominator, -lr / correction1);
    }

    private (Tensor, Tensor) State(OptimizedParameter p)
    {
        if (!_state.TryGetValue(p.Name, out var state))
        {
            state = (zeros_like(p.Parameter).DetachFromDisposeScope(), zeros_like(p.Parameter).DetachFromDisposeScope());
            _state[p.Name] = state;
        }
        return state;
    }

    /// <summary>The optimizer state as named tensors (for checkpoints): moments per parameter and the step count.</summary>
    public Dictionary<string, Tensor> StateDict()
    {
        var result = new Dictionary<string, Tensor> { ["step"] = tensor(StepCount) };
        foreach (var (name, (m, v)) in _state)
        {
            result[$"exp_avg.{name}"] = m;
            result[$"exp_avg_sq.{name}"] = v;
        }
        return result;
    }

    /// <summary>Restores <see cref="StateDict"/> output; every parameter's moments must be present or absent together.</summary>
    public void LoadStateDict(IReadOnlyDictionary<string, Tensor> state)
    {
        if (!state.TryGetValue("step", out var step))
            throw new ArgumentException("The optimizer state has no 'step' entry.");
        StepCount = step.item<long>();
        using var noGrad = no_grad();
        foreach (var p in _parameters)
        {
            bool hasM = state.TryGetValue($"exp_avg.{p.Name}", out var m), hasV = state.TryGetValue($"exp_avg_sq.{p.Name}", out var v);
            if (!hasM && !hasV) continue;
            if (!hasM || !hasV || !m!.shape.SequenceEqual(p.Parameter.shape) || !v!.shape.SequenceEqual(p.Parameter.shape))
                throw new ArgumentException($"The optimizer state for '{p.Name}' is incomplete or has the wrong shape.");
            var (expAvg, expAvgSq) = State(p);
            expAvg.copy_(m);
            expAvgSq.copy_(v);
        }
    }
}
