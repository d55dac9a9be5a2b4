using Microsoft.ML.Clip.Torch;
using TorchSharp;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace Microsoft.ML.Clip.Modeling.Losses;

/// <summary>
/// SigLIP's pairwise sigmoid loss, as open_clip's <c>SigLipLoss</c> on one process: with
/// <c>L = s · I Tᵀ + b</c> and labels +1 on the diagonal, −1 elsewhere, <c>−Σ log σ(labels ⊙ L) / N</c>.
/// Computed in fp32 whatever the feature dtype.
/// </summary>
public sealed class SigLipLoss : nn.Module<Tensor, Tensor, Tensor, Tensor, Tensor>
{
    /// <summary>SigLIP's initial <c>logit_scale</c>: ln 10.</summary>
    public const double DefaultInitLogitScale = 2.302585092994046;

    /// <summary>SigLIP's initial <c>logit_bias</c>: −10.</summary>
    public const double DefaultInitLogitBias = -10;

    /// <summary>Creates the loss (no parameters).</summary>
    public SigLipLoss() : base(nameof(SigLipLoss)) { }

    /// <summary>See <see cref="Compute"/>.</summary>
    public override Tensor forward(Tensor imageFeatures, Tensor textFeatures, Tensor logitScale, Tensor logitBias) =>
        Compute(imageFeatures, textFeatures, logitScale, logitBias);

    /// <summary>The loss, a 0-dim fp32 tensor.</summary>
    /// <param name="imageFeatures">Normalised image features [N, D]; row i pairs with text row i.</param>
    /// <param name="textFeatures">Normalised text features [N, D].</param>
    /// <param name="logitScale">The already exponentiated scale <c>exp(logit_scale)</c>.</param>
    /// <param name="logitBias">The bias added to every logit.</param>
    public static Tensor Compute(Tensor imageFeatures, Tensor textFeatures, Tensor logitScale, Tensor logitBias)
    {
        LossChecks.PairedFeatures(imageFeatures, textFeatures);
        using var scope = NewDisposeScope();
        var image = imageFeatures.to(ScalarType.Float32);
        var text = textFeatures.to(ScalarType.Float32);
        long n = image.shape[0];
        var logits = ScalarSafe.Add(logitScale.to(ScalarType.Float32).reshape() * image.matmul(text.t()), logitBias.to(ScalarType.Float32).reshape());
        var labels = ScalarSafe.Add(ScalarSafe.Mul(eye(n, dtype: ScalarType.Float32, device: image.device), 2), -1);
        var loss = ScalarSafe.Div(F.logsigmoid(labels * logits).sum(), -n);
        return loss.MoveToOuterDisposeScope();
    }

    /// <summary>
    /// The share of <see cref="Compute"/> owed to image rows [<paramref name="start"/>, <paramref name="start"/> + <paramref name="count"/>)
    /// against every text column: shares of disjoint row ranges covering the batch add up to the whole loss, so each
    /// process of a data-parallel job computes only its own samples' rows against the gathered texts.
    /// </summary>
    public static Tensor ComputeRows(Tensor imageFeatures, Tensor textFeatures, Tensor logitScale, Tensor logitBias, long start, long count)
    {
        LossChecks.PairedFeatures(imageFeatures, textFeatures);
        LossChecks.Rows(imageFeatures, start, count);
        using var scope = NewDisposeScope();
        var image = imageFeatures.to(ScalarType.Float32).narrow(0, start, count);
        var text = textFeatures.to(ScalarType.Float32);
        long n = text.shape[0];
        var logits = ScalarSafe.Add(logitScale.to(ScalarType.Float32).reshape() * image.matmul(text.t()), logitBias.to(ScalarType.Float32).reshape());
        // +1 where column j is row i's own caption (j = start + i), −1 elsewhere.
        var positives = eye(count, n, dtype: ScalarType.Float32, device: image.device).roll(start, 1);
        var labels = ScalarSafe.Add(ScalarSafe.Mul(positives, 2), -1);
        return ScalarSafe.Div(F.logsigmoid(labels * logits).sum(), -n).MoveToOuterDisposeScope();
    }
}
