using Microsoft.ML.Clip.Modeling;
using Microsoft.ML.Clip.Torch;
using static TorchSharp.torch;

namespace Microsoft.ML.Clip.Scoring;

/// <summary>
/// FILIP's scoring: token-wise late interaction ½(s^I + s^T) (<see cref="FilipSimilarity.Score"/>) over projected,
/// normalised patch and text tokens. Text features come zero-padded (<see cref="FilipTokenFeatures.ZeroInvalid"/>) so
/// that they can be sliced without their masks. Zero-shot averages the similarities over a class's prompts, since
/// token features cannot be averaged into one class embedding as CLIP's are.
/// </summary>
internal sealed class TokenWiseScoring : ClipScoring
{
    internal const string SavedName = "token-wise";
    private readonly FilipSimilarity _similarity = new();

    public override string Name => SavedName;

    internal override int LegacySimilarityCode => 1;

    internal override string? OnnxExportLimitation =>
        "This model scores token-wise (FILIP): its similarity compares every patch token with every text token, which " +
        "the ONNX export's two pooled-embedding encoders do not carry. Export is not supported for token-wise scoring; " +
        "a bundle of the same model with Scoring = ClipScoring.GlobalCosine exports its pooled embeddings.";

    public override Tensor EncodeImages(ClipModel model, Tensor pixels)
    {
        using var scope = NewDisposeScope();
        return HostTransfer.ToCpu(FilipTokenFeatures.EncodeImage(model, pixels)).MoveToOuterDisposeScope();
    }

    public override Tensor EncodeTexts(ClipModel model, Tensor tokens)
    {
        using var scope = NewDisposeScope();
        var (features, mask) = FilipTokenFeatures.EncodeText(model, tokens);
        return HostTransfer.ToCpu(FilipTokenFeatures.ZeroInvalid(features, mask)).MoveToOuterDisposeScope();
    }

    public override Tensor Similarity(Tensor images, Tensor texts) => _similarity.ScoreZeroPadded(images, texts);

    internal override ZeroShotClasses PrepareZeroShot(ClipModel model, Tensor classEmbeddings, Tensor promptTokens, int templates)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var (features, mask) = FilipTokenFeatures.EncodeText(model, promptTokens);
        return new PromptClasses(_similarity, HostTransfer.ToCpu(features).contiguous().DetachFromDisposeScope(), HostTransfer.ToCpu(mask).contiguous().DetachFromDisposeScope(),
            (int)classEmbeddings.shape[0], templates);
    }

    /// <summary>Every prompt's token features; a class's similarity is the mean over its prompts.</summary>
    private sealed class PromptClasses(FilipSimilarity similarity, Tensor promptTokens, Tensor promptMask, int classes, int templates) : ZeroShotClasses
    {
        public override Tensor Similarities(ClipModel model, Tensor pixels)
        {
            using var scope = NewDisposeScope();
            var images = HostTransfer.ToCpu(FilipTokenFeatures.EncodeImage(model, pixels));
            var scores = similarity.Score(images, null, promptTokens, promptMask); // [N, K·T]
            return scores.view(images.shape[0], classes, templates).mean([2]).MoveToOuterDisposeScope();
        }
    }
}
