using System;
using Microsoft.ML.Clip.Torch;
using static TorchSharp.torch;

namespace Microsoft.ML.Clip.Modeling;

/// <summary>
/// The result of <see cref="ClipModel.forward"/>, as open_clip's <c>CLIP.forward</c>: L2-normalised image and
/// text features (fp32), the exponentiated logit scale and, for models with one, the logit bias. Owns its
/// tensors; dispose it.
/// </summary>
public sealed class ClipOutput : IDisposable
{
    /// <summary>Creates an output holding the given tensors.</summary>
    public ClipOutput(Tensor imageFeatures, Tensor textFeatures, Tensor logitScale, Tensor? logitBias)
    {
        ImageFeatures = imageFeatures;
        TextFeatures = textFeatures;
        LogitScale = logitScale;
        LogitBias = logitBias;
    }

    /// <summary>Normalised image features [N, embed_dim], fp32.</summary>
    public Tensor ImageFeatures { get; }

    /// <summary>Normalised text features [M, embed_dim], fp32.</summary>
    public Tensor TextFeatures { get; }

    /// <summary><c>exp(logit_scale)</c>, a 0-dim fp32 tensor (the inverse temperature).</summary>
    public Tensor LogitScale { get; }

    /// <summary>The learnable logit bias (0-dim, fp32) of SigLIP-style models; null for plain CLIP.</summary>
    public Tensor? LogitBias { get; }

    /// <summary>
    /// Similarity logits [N, M]: <c>scale · image @ textᵀ</c> (+ bias when the model has one). Transpose for
    /// <c>logits_per_text</c>.
    /// </summary>
    public Tensor LogitsPerImage()
    {
        using var scope = NewDisposeScope();
        var logits = LogitScale * SafeMatMul.MatMul(ImageFeatures, TextFeatures.t(), "logits");
        if (LogitBias is not null) logits = ScalarSafe.Add(logits, LogitBias);
        return logits.MoveToOuterDisposeScope();
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        ImageFeatures.Dispose();
        TextFeatures.Dispose();
        LogitScale.Dispose();
        LogitBias?.Dispose();
    }
}
