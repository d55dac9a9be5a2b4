using System.Collections.Generic;
using Microsoft.ML.Clip.Modeling;
using Microsoft.ML.Clip.Modeling.Losses;
using static TorchSharp.torch;

namespace Microsoft.ML.Clip.Training.Objectives;

/// <summary>
/// CLIP's objective (Radford et al., 2021): the symmetric InfoNCE loss over the batch's image–text
/// similarity matrix, scaled by the learnable temperature <c>exp(logit_scale)</c>.
/// </summary>
public sealed class ContrastiveObjective : ClipObjective
{
    /// <inheritdoc/>
    public override string Name => "clip";

    /// <inheritdoc/>
    public override ObjectiveFeatures Encode(ClipModel model, TrainingBatch batch) => new(new Dictionary<string, Tensor>
    {
        ["image"] = batch.ImageFeatures(model),
        ["text"] = batch.TextFeatures(model),
    });

    /// <inheritdoc/>
    public override Tensor Loss(ClipModel model, ObjectiveFeatures features, bool trainModelLevelParameters)
    {
        using var scope = NewDisposeScope();
        var logitScale = ModelLevel(model.LogitScale, trainModelLevelParameters);
        return ClipLoss.Compute(features["image"], features["text"], logitScale.exp()).MoveToOuterDisposeScope();
    }

    /// <inheritdoc/>
    public override Tensor LocalLoss(ClipModel model, ObjectiveFeatures features, long start, long count, bool trainModelLevelParameters)
    {
        using var scope = NewDisposeScope();
        var logitScale = ModelLevel(model.LogitScale, trainModelLevelParameters);
        return ClipLoss.ComputeRows(features["image"], features["text"], logitScale.exp(), start, count).MoveToOuterDisposeScope();
    }
}
