using System.Collections.Generic;
using System.Linq;
using Microsoft.ML.Clip.Modeling;
using Microsoft.ML.Clip.Training.Objectives;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Microsoft.ML.Clip.Training.Steps;

/// <summary>
/// Gradient accumulation with whole-batch negatives (as open_clip's <c>accum_freq</c>), the one routine of every step
/// strategy: the micro-batches are first encoded one at a time and their features kept without their graphs; the loss of
/// the whole batch is back-propagated to those features; then each micro-batch is encoded again, with its graph, and its
/// rows of the feature gradients are back-propagated through the encoders. Summed over micro-batches this is exactly the
/// gradient of the whole-batch loss, with the activations of one micro-batch held at a time.
/// </summary>
/// <remarks>
/// An objective that draws at random while encoding (FLIP's and EVA-CLIP's patch dropping, MaskCLIP's masks, SLIP's
/// views) draws again in the second pass, so the loss's features and the recomputed ones come from different draws: an
/// unbiased variant of the whole-batch step rather than a bit-exact one.
/// </remarks>
internal static class MicroBatches
{
    /// <summary>
    /// The first pass: every micro-batch of <paramref name="batch"/> encoded (with autograd, so that it is known which
    /// features carry a gradient to the encoders), concatenated and detached. The features that do are leaves requiring a
    /// gradient, named in <paramref name="withGradient"/>; the caller owns the result.
    /// </summary>
    public static ObjectiveFeatures EncodeAsLeaves(ClipObjective objective, ClipModel model, TrainingBatch batch,
        IReadOnlyList<(int Start, int Length)> slices, ISet<string> withGradient)
    {
        var parts = new List<ObjectiveFeatures>();
        try
        {
            foreach (var (start, length) in slices)
            {
                using var scope = NewDisposeScope();
                using var fresh = objective.Encode(model, batch.Slice(start, length));
                withGradient.UnionWith(fresh.Names.Where(n => fresh[n].requires_grad));
                parts.Add(fresh.Detach().MoveToOuterDisposeScope());
            }
            var all = ObjectiveFeatures.Concat(parts);
            foreach (var name in withGradient) all[name].requires_grad_(true);
            return all;
        }
        finally
        {
            foreach (var p in parts) p.Dispose();
        }
    }

    /// <summary>
    /// The second pass: each micro-batch encoded again with its graph and its rows of <paramref name="featureGradients"/>
    /// (gradients of the loss with respect to the whole batch's features, by name) back-propagated through the encoders.
    /// </summary>
    public static void BackwardThroughEncoders(ClipObjective objective, ClipModel model, TrainingBatch batch,
        IReadOnlyList<(int Start, int Length)> slices, IReadOnlyDictionary<string, Tensor> featureGradients)
    {
        foreach (var (start, length) in slices)
        {
            using var scope = NewDisposeScope();
            using var fresh = objective.Encode(model, batch.Slice(start, length));
            Backward(fresh, featureGradients, start, length, inputs: null, retainGraph: false);
        }
    }

    /// <summary>
    /// Back-propagates rows [<paramref name="start"/>, <paramref name="start"/> + <paramref name="length"/>) of
    /// <paramref name="gradients"/> through <paramref name="features"/>, into <paramref name="inputs"/> only when given.
    /// </summary>
    public static void Backward(ObjectiveFeatures features, IReadOnlyDictionary<string, Tensor> gradients, int start, int length,
        IReadOnlyList<Parameter>? inputs, bool retainGraph)
    {
        var names = gradients.Keys.Where(n => features[n].requires_grad).ToList();
        if (names.Count == 0 || inputs is { Count: 0 }) return;
        var outputs = names.Select(n => features[n]).ToList();
        var grads = names.Select(n => gradients[n].narrow(0, start, length)).ToList();
        autograd.backward(outputs, grads, retain_graph: retainGraph, create_graph: false, inputs: inputs?.Cast<Tensor>().ToList());
    }
}
