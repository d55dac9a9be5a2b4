using System.Collections.Generic;
using System.Linq;
using Microsoft.ML.Clip.Modeling;
using Microsoft.ML.Clip.Transforms;
using static TorchSharp.torch;

namespace Microsoft.ML.Clip.Training.Objectives.Filip;

/// <summary>
/// Zero-shot class scores of a FILIP-trained model: the token-wise similarity (<see cref="FilipSimilarity.Score"/>)
/// of an image to each prompt, averaged over a class's prompts (FILIP's prompt ensemble averages similarities,
/// since token features cannot be averaged into one class embedding as CLIP's are).
/// </summary>
internal sealed class FilipZeroShot
{
    private readonly Tensor _promptTokens; // [K·T, L, D] fp32 CPU, normalised
    private readonly Tensor _promptMask;   // [K·T, L] bool
    private readonly int _classes, _templates;
    private readonly FilipSimilarity _similarity = new();

    private FilipZeroShot(Tensor promptTokens, Tensor promptMask, int classes, int templates)
    {
        _promptTokens = promptTokens;
        _promptMask = promptMask;
        _classes = classes;
        _templates = templates;
    }

    /// <summary>Encodes every class × template prompt to token features once.</summary>
    public static FilipZeroShot Create(ClipModelBundle bundle, IReadOnlyList<string> classNames, IReadOnlyList<string> templates)
    {
        var model = bundle.InferenceModel();
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        // Class-major order: prompt c·T + t is template t of class c.
        var prompts = classNames.SelectMany(name => templates.Select(t => (string?)PromptTemplates.Format(t, name))).ToList();
        var tokens = bundle.Tokenizer.EncodeBatch(prompts, bundle.ContextLength).to(model.Device);
        var (features, mask) = FilipTokenFeatures.EncodeText(model, tokens);
        var promptTokens = features.cpu().contiguous().DetachFromDisposeScope();
        var promptMask = mask.cpu().contiguous().DetachFromDisposeScope();
        return new FilipZeroShot(promptTokens, promptMask, classNames.Count, templates.Count);
    }

    /// <summary>[N, K] fp32 CPU token-wise similarities of the images to the classes (not scaled).</summary>
    public Tensor Similarities(ClipModel model, Tensor pixels)
    {
        using var scope = NewDisposeScope();
        var images = FilipTokenFeatures.EncodeImage(model, pixels).cpu();
        var scores = _similarity.Score(images, null, _promptTokens, _promptMask); // [N, K·T]
        return scores.view(images.shape[0], _classes, _templates).mean([2]).MoveToOuterDisposeScope();
    }
}
