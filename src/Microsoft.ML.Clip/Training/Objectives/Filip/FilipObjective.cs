using System;
using System.Collections.Generic;
using Microsoft.ML.Clip.Modeling;
using Microsoft.ML.Clip.Torch;
using Microsoft.ML.Clip.Scoring;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace Microsoft.ML.Clip.Training.Objectives.Filip;

/// <summary>
/// FILIP (Yao et al., 2021, "FILIP: Fine-grained Interactive Language-Image Pre-Training"): CLIP's symmetric
/// contrastive loss with the global cosine replaced by token-wise late interaction (<see cref="FilipSimilarity"/>):
/// <c>L = ½[CE(s^I/τ) + CE(s^Tᵀ/τ)]</c> with diagonal targets, where image→text uses the rows of s^I and
/// text→image the columns of s^T (paper eq. 2, 4, 5), and <c>1/τ = exp(logit_scale)</c>, the model's learnable
/// temperature.
/// </summary>
/// <remarks>
/// Needs an image tower with token outputs (the ViT). Features are the normalised patch and text tokens plus the
/// text mask (see <see cref="FilipTokenFeatures"/> for which text tokens count), all with the batch first, so
/// gradient accumulation concatenates cached micro-batches as for CLIP. Not implemented from the paper: the
/// reduced embedding size and the top-25% token selection before cross-device gathering, which only save
/// communication in multi-node training. A model trained with this objective scores with the same token-wise
/// similarity (<see cref="ClipScoring.TokenWise"/>), in validation, zero-shot classification and retrieval.
/// </remarks>
public sealed class FilipObjective : ClipObjective
{
    private const string ImageTokens = "image_tokens", TextTokens = "text_tokens", TextMask = "text_mask";

    /// <summary>FILIP: contrastive loss over token-wise late-interaction similarity, computed block by block.</summary>
    /// <param name="chunkSize">Images and texts per block of the token-wise similarity (memory ∝ chunkSize² · Np · Lt).</param>
    public FilipObjective(int chunkSize = 32) => SimilarityFunction = new FilipSimilarity(chunkSize);

    /// <summary>The token-wise similarity (and its chunk size).</summary>
    internal FilipSimilarity SimilarityFunction { get; }

    /// <inheritdoc/>
    public override string Name => "filip";

    /// <inheritdoc/>
    public override ClipScoring Scoring(ClipModel model) => ClipScoring.TokenWise;

    /// <inheritdoc/>
    public override void Initialize(ClipModel model, Device device)
    {
        TokenImageTower(model, "compares image patch tokens with text tokens");
    }

    /// <inheritdoc/>
    public override ObjectiveFeatures Encode(ClipModel model, TrainingBatch batch)
    {
        using var scope = NewDisposeScope();
        var image = FilipTokenFeatures.EncodeImage(model, batch.Pixels);
        var (text, mask) = FilipTokenFeatures.EncodeText(model, batch.Tokens);
        return new ObjectiveFeatures(new Dictionary<string, Tensor>
        {
            [ImageTokens] = image.MoveToOuterDisposeScope(),
            [TextTokens] = text.MoveToOuterDisposeScope(),
            [TextMask] = mask.MoveToOuterDisposeScope(),
        });
    }

    /// <inheritdoc/>
    public override Tensor Loss(ClipModel model, ObjectiveFeatures features, bool trainModelLevelParameters)
    {
        using var scope = NewDisposeScope();
        var logitScale = ModelLevel(model.LogitScale, trainModelLevelParameters);
        return Compute(SimilarityFunction, features[ImageTokens], features[TextTokens], features[TextMask],
            logitScale.to(ScalarType.Float32).exp()).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// The FILIP loss of a batch, a 0-dim fp32 tensor: <c>½[CE(scale·s^I) + CE(scale·(s^T)ᵀ)]</c> with diagonal targets.
    /// </summary>
    /// <param name="similarity">The token-wise similarity.</param>
    /// <param name="imageTokens">[B, Np, D] normalised patch tokens; image i pairs with text i.</param>
    /// <param name="textTokens">[B, Lt, D] normalised text tokens.</param>
    /// <param name="textMask">[B, Lt] bool, valid text tokens.</param>
    /// <param name="scale">The inverse temperature <c>exp(logit_scale)</c> (0-dim).</param>
    internal static Tensor Compute(FilipSimilarity similarity, Tensor imageTokens, Tensor textTokens, Tensor textMask, Tensor scale)
    {
        ArgumentNullException.ThrowIfNull(similarity);
        if (imageTokens.shape[0] != textTokens.shape[0])
            throw new ArgumentException($"Expected paired batches; got {imageTokens.shape[0]} images and {textTokens.shape[0]} texts.");
        using var scope = NewDisposeScope();
        var (sI, sT) = similarity.Compute(imageTokens, null, textTokens, textMask);
        var s = scale.to(ScalarType.Float32).reshape();
        var labels = ScalarSafe.Arange(0, sI.shape[0], ScalarType.Int64, sI.device);
        var imageToText = F.cross_entropy(s * sI, labels);      // row k: image k against every text
        var textToImage = F.cross_entropy(s * sT.t(), labels);  // row k: text k against every image
        return ScalarSafe.Div(ScalarSafe.Add(imageToText, textToImage), 2).MoveToOuterDisposeScope();
    }
}
