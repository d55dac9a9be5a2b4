using System;
using System.Collections.Generic;
using System.Linq;
using Microsoft.ML.Clip.Modeling;
using Microsoft.ML.Clip.Torch;
using Microsoft.ML.Clip.Scoring;
using TorchSharp;
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

    /// <summary>
    /// In data-parallel training, this process's share of the loss of the gathered global batch
    /// <paramref name="features"/>, whose rows [<paramref name="start"/>, <paramref name="start"/> + <paramref name="count"/>)
    /// are this process's samples. The shares of all processes must add up to <see cref="Loss"/> of the whole
    /// batch: the trainer sums their gradients. The default takes <c>count / N</c> of the whole loss, which is right
    /// for any objective (queues and teachers see the whole batch on every process, so they stay in step) but
    /// computes the full N × N loss on every process; objectives whose loss is a sum over rows (CLIP, SigLIP)
    /// override it to compute their own rows against all columns only.
    /// </summary>
    public virtual Tensor LocalLoss(ClipModel model, ObjectiveFeatures features, long start, long count, bool trainModelLevelParameters)
    {
        using var scope = NewDisposeScope();
        var whole = Loss(model, features, trainModelLevelParameters);
        return ScalarSafe.Mul(whole, (double)count / features.Count).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Adjusts the architecture of a model trained from scratch (e.g. SigLIP's learnable bias and its
    /// initial temperature). Called before the model is created; not called when fine-tuning.
    /// </summary>
    public virtual ClipConfig PrepareArchitecture(ClipConfig config) => config;

    /// <summary>
    /// Called once before training, with the (float32 master) model: create heads, momentum encoders or
    /// queues sized to it here. <paramref name="device"/> is where the model lives.
    /// </summary>
    public virtual void Initialize(ClipModel model, Device device) { }

    /// <summary>
    /// The optimizer for <paramref name="parameters"/> (weight decay already assigned), or null for AdamW with
    /// the options' settings. EVA-CLIP returns LAMB with layer-wise learning-rate scales here.
    /// </summary>
    internal virtual AdamW? CreateOptimizer(IReadOnlyList<OptimizedParameter> parameters, ClipTrainerOptions options) => null;

    /// <summary>Objective state that must survive a checkpoint (queues, teachers, heads), by name.</summary>
    public virtual IReadOnlyDictionary<string, Tensor> StateDict() => new Dictionary<string, Tensor>();

    /// <summary>Restores <see cref="StateDict"/> output from a checkpoint.</summary>
    public virtual void LoadStateDict(IReadOnlyDictionary<string, Tensor> state) { }

    /// <summary>Trainable parameters owned by the objective (heads, ...), besides the model's. Names must be unique.</summary>
    public virtual IEnumerable<(string Name, Parameter Parameter)> ExtraParameters() => [];

    /// <summary>
    /// How <paramref name="model"/>, trained with this objective, compares images with texts (saved with it, used by
    /// validation, zero-shot classification and retrieval). By default what the model's parameters imply
    /// (<see cref="ClipScoring.For"/>: CLIP's cosine, or a sigmoid with a logit bias).
    /// </summary>
    public virtual ClipScoring Scoring(ClipModel model) => ClipScoring.For(model);

    /// <summary>Called after each optimizer step (momentum updates, queue updates, clamping).</summary>
    public virtual void AfterStep(ClipModel model, ObjectiveFeatures? batchFeatures) { }

    /// <summary>
    /// A model-level parameter (the temperature <c>logit_scale</c>, SigLIP's <c>logit_bias</c>) as <see cref="Loss"/> uses
    /// it: the parameter itself when <paramref name="trainModelLevelParameters"/> is true, else detached (see <see cref="Loss"/>).
    /// </summary>
    private protected static Tensor ModelLevel(Tensor parameter, bool trainModelLevelParameters)
    {
        ArgumentNullException.ThrowIfNull(parameter);
        return trainModelLevelParameters ? parameter : parameter.detach();
    }

    /// <summary>
    /// The image tower of <paramref name="model"/> as a tower with patch tokens (<see cref="ITokenImageTower"/>), or a
    /// <see cref="NotSupportedException"/> saying that this objective's <paramref name="use"/> needs one.
    /// </summary>
    /// <param name="model">The model.</param>
    /// <param name="use">What the tokens are for, completing "{objective} {use}" (e.g. <c>drops patch tokens</c>).</param>
    private protected ITokenImageTower TokenImageTower(ClipModel model, string use)
    {
        ArgumentNullException.ThrowIfNull(model);
        return model.Visual as ITokenImageTower ?? throw new NotSupportedException(
            $"The '{Name}' objective {use}, which needs an image tower with patch tokens (one implementing ITokenImageTower, " +
            $"such as the Vision Transformer); this model's image tower is a {model.Visual.GetType().Name}.");
    }

    /// <summary>
    /// Loads the tensors of <paramref name="state"/> named <paramref name="prefix"/><c>*</c> into <paramref name="module"/>
    /// (a part of this objective's <see cref="StateDict"/>, such as a momentum encoder); every tensor of the module must be
    /// there and nothing else under the prefix, or an <see cref="ArgumentException"/> names the missing and unexpected ones.
    /// </summary>
    private protected void LoadModuleState(nn.Module module, IReadOnlyDictionary<string, Tensor> state, string prefix)
    {
        ArgumentNullException.ThrowIfNull(module);
        var (missing, unexpected) = module.load_state_dict(StateDictLoader.WithPrefix(state, prefix), strict: false);
        if (missing.Count > 0 || unexpected.Count > 0)
            throw new ArgumentException($"The '{Name}' objective's state '{prefix}' does not match the checkpoint: missing [{string.Join(", ", missing)}], " +
                                        $"unexpected [{string.Join(", ", unexpected)}].", nameof(state));
    }
}
