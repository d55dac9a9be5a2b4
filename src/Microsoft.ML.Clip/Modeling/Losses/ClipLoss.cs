using System;
using Microsoft.ML.Clip.Torch;
using TorchSharp;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace Microsoft.ML.Clip.Modeling.Losses;

/// <summary>
/// CLIP's symmetric contrastive (InfoNCE) loss, as open_clip's <c>ClipLoss</c> on one process: with
/// <c>L = s · I Tᵀ</c>, the mean of the cross-entropies of the rows of L and of Lᵀ against the diagonal.
/// Computed in fp32 whatever the feature dtype.
/// </summary>
public sealed class ClipLoss : nn.Module<Tensor, Tensor, Tensor, Tensor>
{
    /// <summary>Creates the loss (no parameters).</summary>
    public ClipLoss() : base(nameof(ClipLoss)) { }

    /// <summary>See <see cref="Compute"/>.</summary>
    public override Tensor forward(Tensor imageFeatures, Tensor textFeatures, Tensor logitScale) =>
        Compute(imageFeatures, textFeatures, logitScale);

    /// <summary>The loss, a 0-dim fp32 tensor.</summary>
    /// <param name="imageFeatures">Normalised image features [N, D]; row i pairs with text row i.</param>
    /// <param name="textFeatures">Normalised text features [N, D].</param>
    /// <param name="logitScale">The already exponentiated scale <c>exp(logit_scale)</c> (0-dim or one element).</param>
    public static Tensor Compute(Tensor imageFeatures, Tensor textFeatures, Tensor logitScale)
    {
        LossChecks.PairedFeatures(imageFeatures, textFeatures);
        using var scope = NewDisposeScope();
        var image = imageFeatures.to(ScalarType.Float32);
        var text = textFeatures.to(ScalarType.Float32);
        var scale = logitScale.to(ScalarType.Float32).reshape();
        var logitsPerImage = scale * image.matmul(text.t());
        var logitsPerText = logitsPerImage.t();
        var labels = ScalarSafe.Arange(0, image.shape[0], ScalarType.Int64, image.device);
        var loss = ScalarSafe.Div(ScalarSafe.Add(F.cross_entropy(logitsPerImage, labels), F.cross_entropy(logitsPerText, labels)), 2);
        return loss.MoveToOuterDisposeScope();
    }

    /// <summary>
    /// The share of <see cref="Compute"/> owed to rows [<paramref name="start"/>, <paramref name="start"/> + <paramref name="count"/>):
    /// their image→text and text→image cross-entropies against every column, summed and divided by 2N. The shares
    /// of disjoint row ranges covering the batch add up to the whole loss, so each process of a data-parallel job
    /// computes only its own samples' rows against the gathered batch (open_clip's <c>local_loss</c>).
    /// </summary>
    public static Tensor ComputeRows(Tensor imageFeatures, Tensor textFeatures, Tensor logitScale, long start, long count)
    {
        LossChecks.PairedFeatures(imageFeatures, textFeatures);
        LossChecks.Rows(imageFeatures, start, count);
        using var scope = NewDisposeScope();
        var image = imageFeatures.to(ScalarType.Float32);
        var text = textFeatures.to(ScalarType.Float32);
        var scale = logitScale.to(ScalarType.Float32).reshape();
        var logitsPerImage = scale * image.narrow(0, start, count).matmul(text.t());
        var logitsPerText = scale * text.narrow(0, start, count).matmul(image.t());
        var labels = ScalarSafe.Arange(start, start + count, ScalarType.Int64, image.device);
        var sum = ScalarSafe.Add(F.cross_entropy(logitsPerImage, labels, reduction: nn.Reduction.Sum), F.cross_entropy(logitsPerText, labels, reduction: nn.Reduction.Sum));
        return ScalarSafe.Div(sum, 2.0 * image.shape[0]).MoveToOuterDisposeScope();
    }
}

internal static class LossChecks
{
    public static void PairedFeatures(Tensor image, Tensor text)
    {
        if (image.dim() != 2 || text.dim() != 2 || image.shape[0] != text.shape[0] || image.shape[1] != text.shape[1])
            throw new ArgumentException(
                $"Expected paired features [N, D] and [N, D], got [{string.Join(", ", image.shape)}] and [{string.Join(", ", text.shape)}].");
    }

    public static void Rows(Tensor features, long start, long count)
    {
        if (start < 0 || count < 1 || start + count > features.shape[0])
            throw new ArgumentOutOfRangeException(nameof(start), $"Rows [{start}, {start + count}) are not within the batch of {features.shape[0]}.");
    }
}
