using System;
using System.Collections.Generic;
using System.Linq;
using Microsoft.ML.Clip.Modeling;
using Microsoft.ML.Clip.Torch;
using Microsoft.ML.Clip.Training.Distributed;
using Microsoft.ML.Clip.Training.Objectives;
using Microsoft.ML.Clip.Training.Precision;
using static TorchSharp.torch;

namespace Microsoft.ML.Clip.Training.Steps;

/// <summary>A step of this process alone: the loss of its batch, back-propagated whole or in micro-batches (<see cref="MicroBatches"/>).</summary>
internal sealed class LocalStep(ClipObjective objective, StepPrecision precision, int? microBatchSize) : IStepStrategy
{
    public TimeSpan CommunicationWait => TimeSpan.Zero;

    public StepGradients Run(ClipModel model, TrainingBatch batch, StepAgreement? agreement)
    {
        var slices = batch.MicroBatches(microBatchSize ?? batch.Count);
        Tensor loss;
        if (slices.Count == 1)
        {
            using var features = objective.Encode(model, batch);
            loss = objective.Loss(model, features, trainModelLevelParameters: true);
            loss.backward();
        }
        else
        {
            var withGradient = new HashSet<string>();
            using var leaves = MicroBatches.EncodeAsLeaves(objective, model, batch, slices, withGradient);
            loss = objective.Loss(model, leaves, trainModelLevelParameters: true);
            loss.backward();
            var featureGradients = withGradient.Where(n => leaves[n].grad is not null).ToDictionary(n => n, n => leaves[n].grad!);
            MicroBatches.BackwardThroughEncoders(objective, model, batch, slices, featureGradients);
        }
        var gradients = precision.CollectGradients();
        // The one read of the step before the update: the loss and the gradient norm decide between skipping, clipping
        // and stepping, so they are needed on the host; both travel in one copy.
        var figures = HostTransfer.Read(loss.detach(), StepGradients.SquaredNorm(gradients.Values, precision.Master.Device));
        return new StepGradients(figures[0], Math.Sqrt(figures[1]), gradients);
    }

    public void Dispose() { }
}
