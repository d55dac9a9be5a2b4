using System;
using System.Collections.Generic;
using System.Linq;
using Microsoft.ML.Clip.Modeling;
using Microsoft.ML.Clip.Training.Distributed;
using static TorchSharp.torch;

namespace Microsoft.ML.Clip.Training.Steps;

/// <summary>
/// How one training step turns a batch into the gradients the optimizer applies: this process alone
/// (<see cref="LocalStep"/>) or together with the other processes of a data-parallel job
/// (<see cref="DataParallelStep"/>). Both encode in micro-batches through <see cref="MicroBatches"/>; what differs is
/// whether features, their gradients and the parameter gradients travel between processes.
/// </summary>
internal interface IStepStrategy : IDisposable
{
    /// <summary>Time this process spent waiting for the others' data, cumulative (zero alone).</summary>
    TimeSpan CommunicationWait { get; }

    /// <summary>
    /// Forward and backward over <paramref name="batch"/> with <paramref name="model"/> (training mode, gradients zeroed);
    /// <paramref name="agreement"/> gives every process's row count when the processes already agreed on their shares
    /// (null: they agree here; ignored alone).
    /// </summary>
    StepGradients Run(ClipModel model, TrainingBatch batch, StepAgreement? agreement);
}

/// <summary>The outcome of a step's forward and backward passes.</summary>
/// <param name="Loss">The loss of the (global) batch.</param>
/// <param name="Norm">The L2 norm of all gradients, before clipping.</param>
/// <param name="Gradients">The float32 gradients by optimizer name (in the caller's dispose scope).</param>
internal sealed record StepGradients(double Loss, double Norm, Dictionary<string, Tensor> Gradients)
{
    /// <summary>The sum of squares of <paramref name="gradients"/> (fp32, 0-dim, on <paramref name="device"/>; the caller's scope owns it).</summary>
    public static Tensor SquaredNorm(IEnumerable<Tensor> gradients, Device device)
    {
        var squares = gradients.Select(g => { var g32 = g.to(ScalarType.Float32); return g32.mul(g32).sum(); }).ToArray(); // no square()/pow(): see ScalarSafe
        return squares.Length == 0 ? zeros([], ScalarType.Float32, device) : stack(squares).sum();
    }
}
