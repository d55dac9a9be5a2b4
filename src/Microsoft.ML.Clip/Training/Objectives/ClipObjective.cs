using System.Collections.Generic;
using Microsoft.ML.Clip.Modeling;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Microsoft.ML.Clip.Training.Objectives;

/// <summary>
/// A pretraining objective: how a batch is encoded and what loss is minimised. The training loop (optimizer,
/// schedule, accumulation, precision, checkpoints) is shared; an objective brings only what its method needs
/// (extra heads, momentum encoders, queues, masking) through the hooks below.
/// </summary>
public abstract class ClipObjective
{
    /// <summary>Short name used in logs and saved models (e.g. <c>clip</c>, <c>siglip</c>).</summary>
    public abstract string Name { get; }

    /// <summary>
    /// Encodes one micro-batch with gradients (when enabled by the caller). Every returned tensor has the
    /// micro-batch as its first dimension.
    /// </summary>
    public abstract ObjectiveFeatures Encode(ClipModel model, TrainingBatch batch);

    /// <summary>
    /// The loss of a whole batch from its features, a 0-dim fp32 tensor. <paramref name="model"/> supplies
    /// model-level parameters (temperature, bias); when <paramref name="trainModelLevelParameters"/> is false
    /// they must be used detached, so accumulation counts their gradient once per step.
    /// </summary>
    public abstract Tensor Loss(ClipModel model, ObjectiveFeatures features, bool trainModelLevelParameters);

    /// <summary>Trainable parameters owned by the objective (heads, ...), besides the model's. Names must be unique.</summary>
    public virtual IEnumerable<(string Name, Parameter Parameter)> ExtraParameters() => [];

    /// <summary>Called after each optimizer step (momentum updates, queue updates, clamping).</summary>
    public virtual void AfterStep(ClipModel model, ObjectiveFeatures? batchFeatures) { }
}
