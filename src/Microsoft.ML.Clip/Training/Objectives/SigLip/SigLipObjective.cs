using System;
using System.Collections.Generic;
using Microsoft.ML.Clip.Modeling;
using Microsoft.ML.Clip.Modeling.Losses;
using Microsoft.ML.Clip.Scoring;
using static TorchSharp.torch;

namespace Microsoft.ML.Clip.Training.Objectives.SigLip;

/// <summary>
/// SigLIP's objective (Zhai et al., 2023, "Sigmoid Loss for Language Image Pre-Training"): every image–text pair
/// of the batch is an independent binary classification,
/// <c>L = −(1/B) Σᵢ Σⱼ log σ(zᵢⱼ (t·xᵢ·yⱼ + b))</c> with <c>zᵢⱼ = +1</c> for matching pairs (i = j) and −1
/// otherwise, a learnable temperature <c>t = exp(t′)</c> and a learnable bias <c>b</c>.
/// </summary>
/// <remarks>
/// <para>Unlike CLIP's softmax there is no normalisation over the batch, so each pair's probability is its own
/// sigmoid; the model therefore carries a <c>logit_bias</c> parameter (created by <see cref="PrepareArchitecture"/>),
/// and zero-shot scores of such a model are per-class sigmoids rather than a softmax.</para>
/// <para>The temperature is clamped to at most the trainer's <see cref="ClipTrainerOptions.MaxLogitScale"/> like CLIP's.</para>
/// </remarks>
public sealed class SigLipObjective : ClipObjective
{
    /// <summary>SigLIP with the paper's initialisation (t′₀ = ln 10, b₀ = −10).</summary>
    public SigLipObjective() : this(new SigLipOptions()) { }

    /// <summary>SigLIP with the given initial log-temperature <paramref name="initLogitScale"/> and bias <paramref name="initLogitBias"/>.</summary>
    public SigLipObjective(double initLogitScale, double initLogitBias)
        : this(new SigLipOptions { InitLogitScale = initLogitScale, InitLogitBias = initLogitBias }) { }

    /// <summary>SigLIP with <paramref name="options"/>.</summary>
    public SigLipObjective(SigLipOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        Options = options;
    }

    /// <summary>The initialisation.</summary>
    public SigLipOptions Options { get; }

    /// <inheritdoc/>
    public override string Name => "siglip";

    /// <summary>Sets the initial <c>logit_scale</c> to t′₀ and adds a learnable <c>logit_bias</c> initialised to b₀.</summary>
    public override ClipScoring Scoring(ClipModel model) => ClipScoring.SigmoidWithBias;

    /// <inheritdoc/>
    public override ClipConfig PrepareArchitecture(ClipConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        return config with { InitLogitScale = Options.InitLogitScale, InitLogitBias = Options.InitLogitBias };
    }

    /// <inheritdoc/>
    public override void Initialize(ClipModel model, Device device)
    {
        ArgumentNullException.ThrowIfNull(model);
        // Fine-tuning skips PrepareArchitecture: a model without a bias cannot learn SigLIP's prior.
        if (model.LogitBias is null)
            throw new InvalidOperationException(
                "SigLIP needs a model with a learnable logit_bias. Train from scratch (the objective adds it) or fine-tune a model " +
                "whose configuration sets InitLogitBias.");
    }

    /// <inheritdoc/>
    public override ObjectiveFeatures Encode(ClipModel model, TrainingBatch batch) => new(new Dictionary<string, Tensor>
    {
        ["image"] = batch.ImageFeatures(model),
        ["text"] = batch.TextFeatures(model),
    });

    /// <inheritdoc/>
    public override Tensor Loss(ClipModel model, ObjectiveFeatures features, bool trainModelLevelParameters)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(features);
        var bias = model.LogitBias ?? throw new InvalidOperationException("SigLIP needs a model with a learnable logit_bias.");
        using var scope = NewDisposeScope();
        var logitScale = ModelLevel(model.LogitScale, trainModelLevelParameters);
        var logitBias = ModelLevel(bias, trainModelLevelParameters);
        return SigLipLoss.Compute(features["image"], features["text"], logitScale.exp(), logitBias).MoveToOuterDisposeScope();
    }

    /// <inheritdoc/>
    public override Tensor LocalLoss(ClipModel model, ObjectiveFeatures features, long start, long count, bool trainModelLevelParameters)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(features);
        var bias = model.LogitBias ?? throw new InvalidOperationException("SigLIP needs a model with a learnable logit_bias.");
        using var scope = NewDisposeScope();
        var logitScale = ModelLevel(model.LogitScale, trainModelLevelParameters);
        var logitBias = ModelLevel(bias, trainModelLevelParameters);
        return SigLipLoss.ComputeRows(features["image"], features["text"], logitScale.exp(), logitBias, start, count).MoveToOuterDisposeScope();
    }
}
