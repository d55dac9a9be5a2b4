using System;
using System.Collections.Generic;
using System.Linq;
using Microsoft.ML.Clip.Modeling;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace Microsoft.ML.Clip.Training.Objectives.EvaClip;

/// <summary>
/// EVA-CLIP (Sun et al., 2023): CLIP's symmetric InfoNCE loss with the paper's training techniques — the LAMB
/// optimizer (<see cref="Lamb"/>), layer-wise learning-rate decay with separate base rates for the image and
/// text towers (<see cref="LayerwiseLearningRates"/>), random patch dropout of the image tokens during training
/// (FLIP), and towers initialised from pretrained weights (<see cref="PretrainedTower"/>). The loss itself is
/// CLIP's; what changes is how the towers start and move.
/// </summary>
public sealed class EvaClipObjective : ClipObjective
{
    private static readonly ContrastiveObjective Clip = new(); // the loss is CLIP's
    private ClipModel? _model;

    /// <summary>Creates the objective with <paramref name="options"/> (null: the defaults).</summary>
    public EvaClipObjective(EvaClipOptions? options = null)
    {
        Options = options ?? new EvaClipOptions();
        Options.Validate();
    }

    /// <summary>The settings.</summary>
    public EvaClipOptions Options { get; }

    /// <inheritdoc/>
    public override string Name => "eva-clip";

    /// <summary>Loads the pretrained towers, if any, into the freshly created (or fine-tuned) model.</summary>
    public override void Initialize(ClipModel model, Device device)
    {
        ArgumentNullException.ThrowIfNull(model);
        if (Options.PatchDropout > 0)
            TokenImageTower(model, "drops patch tokens (PatchDropout; set it to 0 for this tower)");
        Options.ImageTowerInit?.LoadInto(model, ClipTower.Image);
        Options.TextTowerInit?.LoadInto(model, ClipTower.Text);
        _model = model;
    }

    /// <summary>LAMB with each parameter's learning-rate scale set by its tower's ratio and layer decay.</summary>
    internal override AdamW CreateOptimizer(IReadOnlyList<OptimizedParameter> parameters, ClipTrainerOptions options)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        ArgumentNullException.ThrowIfNull(options);
        var model = _model ?? throw new InvalidOperationException("Initialize must be called before CreateOptimizer (the scales depend on the model's depth).");
        var scales = LayerwiseLearningRates.Scales(model, parameters.Select(p => p.Name),
            Options.ImageLearningRateRatio, Options.ImageLayerDecay, Options.TextLearningRateRatio, Options.TextLayerDecay);
        var scaled = parameters.Select(p => p with { LearningRateScale = p.LearningRateScale * scales[p.Name] });
        return new Lamb(scaled, options.Beta1, options.Beta2, options.Epsilon);
    }

    /// <inheritdoc/>
    public override ObjectiveFeatures Encode(ClipModel model, TrainingBatch batch)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(batch);
        return new ObjectiveFeatures(new Dictionary<string, Tensor>
        {
            ["image"] = EncodeImage(model, batch),
            ["text"] = batch.TextFeatures(model),
        });
    }

    /// <inheritdoc/>
    public override Tensor Loss(ClipModel model, ObjectiveFeatures features, bool trainModelLevelParameters) =>
        Clip.Loss(model, features, trainModelLevelParameters);

    /// <inheritdoc/>
    public override Tensor LocalLoss(ClipModel model, ObjectiveFeatures features, long start, long count, bool trainModelLevelParameters) =>
        Clip.LocalLoss(model, features, start, count, trainModelLevelParameters);

    /// <summary>
    /// Normalised image embeddings [N, embed_dim] (fp32); in training mode from a random subset of
    /// ⌊P·(1 − p)⌋ patches per image (at least one) plus the class token, drawn independently for each image
    /// as FLIP does. The rate is the objective's, so the saved model's architecture keeps no dropout.
    /// </summary>
    private Tensor EncodeImage(ClipModel model, TrainingBatch batch)
    {
        if (!model.training || Options.PatchDropout == 0)
            return batch.ImageFeatures(model);
        var pixels = batch.Pixels;
        using var scope = NewDisposeScope();
        int patches = TokenImageTower(model, "drops patch tokens").PatchCount;
        int kept = Math.Max(1, (int)(patches * (1 - Options.PatchDropout)));
        // Random scores, top-k: a uniformly random subset per image.
        var keep = randn(pixels.shape[0], patches, device: model.Device).topk(kept, dim: -1).indexes;
        using var output = model.EncodeImageTokens(pixels, keep, projectTokens: false);
        return F.normalize(output.Pooled.to(ScalarType.Float32), dim: -1).MoveToOuterDisposeScope();
    }
}
