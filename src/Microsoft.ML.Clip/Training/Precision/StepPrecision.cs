using System;
using System.Collections.Generic;
using System.Linq;
using Microsoft.ML.Clip.Modeling;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Microsoft.ML.Clip.Training.Precision;

/// <summary>
/// The arithmetic of a training step (<see cref="TrainingPrecision"/>): which model the step computes with, which
/// tensors hold the gradients the optimizer reads, and what happens to the weights after an update. The optimizer
/// always updates the float32 master weights; a precision only decides what the forward and backward passes run on.
/// </summary>
internal abstract class StepPrecision : IDisposable
{
    private readonly Parameter[] _accumulating; // every parameter a step's gradients accumulate into

    private protected StepPrecision(ClipModel master, IReadOnlyList<(string Name, Parameter Parameter)> gradientSources,
        IReadOnlyList<OptimizedParameter> optimized)
    {
        Master = master;
        GradientSources = gradientSources;
        // In fp32 the gradient sources are the optimized parameters themselves: zero each tensor once.
        _accumulating = gradientSources.Select(p => p.Parameter).Concat(optimized.Select(p => p.Parameter))
            .Distinct(ReferenceEqualityComparer.Instance).Cast<Parameter>().ToArray();
    }

    /// <summary>The precision <paramref name="precision"/> for training <paramref name="master"/> with an optimizer over <paramref name="optimized"/>.</summary>
    public static StepPrecision Create(TrainingPrecision precision, ClipModel master, IReadOnlyList<OptimizedParameter> optimized) => precision switch
    {
        TrainingPrecision.Float32 => new Float32Precision(master, optimized),
        TrainingPrecision.BFloat16Mixed => new BFloat16MixedPrecision(master, optimized),
        _ => throw new ArgumentOutOfRangeException(nameof(precision), precision, "Unknown training precision."),
    };

    /// <summary>The float32 model the optimizer updates, saved and checkpointed.</summary>
    public ClipModel Master { get; }

    /// <summary>The model forward and backward passes run on.</summary>
    public abstract ClipModel Working { get; }

    /// <summary>
    /// The parameters whose gradients the optimizer reads, by optimizer name, in the optimizer's order: the working
    /// model's trainable parameters and the objective's.
    /// </summary>
    public IReadOnlyList<(string Name, Parameter Parameter)> GradientSources { get; }

    /// <summary>The gradients of <see cref="GradientSources"/> that exist, as float32 (the bf16 ones cast), by optimizer name.</summary>
    public Dictionary<string, Tensor> CollectGradients()
    {
        var result = new Dictionary<string, Tensor>();
        foreach (var (name, parameter) in GradientSources)
            if (parameter.grad is Tensor g) result[name] = g.dtype == ScalarType.Float32 ? g : g.to(ScalarType.Float32);
        return result;
    }

    /// <summary>Zeroes every gradient a step accumulates into.</summary>
    public void ZeroGradients()
    {
        foreach (var parameter in _accumulating) parameter.grad?.zero_();
    }

    /// <summary>After an optimizer step on the master weights: brings the working model up to date.</summary>
    public abstract void AfterUpdate();

    /// <summary>After the master weights changed outside the trainer (a restored checkpoint, another process's weights).</summary>
    public abstract void MasterWeightsChanged();

    /// <inheritdoc/>
    public virtual void Dispose() { }
}

/// <summary>Float32 throughout: the step computes with the master model itself.</summary>
internal sealed class Float32Precision(ClipModel master, IReadOnlyList<OptimizedParameter> optimized)
    : StepPrecision(master, optimized.Select(p => (p.Name, p.Parameter)).ToList(), optimized)
{
    public override ClipModel Working => Master;

    public override void AfterUpdate() { }

    public override void MasterWeightsChanged() { }
}
