using Microsoft.ML.Clip.Modeling;
using Microsoft.ML.Clip.Torch;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace Microsoft.ML.Clip.Scoring;

/// <summary>
/// The token features FILIP compares: projected, L2-normalised fp32 image patch tokens and text tokens, with the
/// text validity mask derived from the token ids.
/// </summary>
/// <remarks>
/// Which text tokens take part: positions 1 … e, where e is the position of the end-of-text token (the largest
/// id, as <see cref="ClipModel.EncodeText"/> pools). Padding (after e) never takes part, as in the paper.
/// The end-of-text token is kept: under the causal mask it is the only token that has seen the whole caption.
/// The start-of-text token is left out: under the causal mask it attends only to itself, so its feature is the
/// same for every caption and would give every text one identical, uninformative token to match. Padding is
/// recognised by position rather than by id 0 because id 0 is a real token in CLIP's vocabulary.
/// Image tokens are the patch tokens the tower returns (the class token is excluded, as in the paper).
/// </remarks>
internal static class FilipTokenFeatures
{
    /// <summary>[N, L] bool: true at positions 1 … end-of-text of each row of <paramref name="tokens"/> [N, L].</summary>
    public static Tensor TextMask(Tensor tokens)
    {
        using var scope = NewDisposeScope();
        long length = tokens.shape[1];
        var positions = ScalarSafe.Arange(0, length, ScalarType.Int64, tokens.device).unsqueeze(0); // [1, L]
        var eot = tokens.to(ScalarType.Int64).argmax(-1).unsqueeze(1);                                  // [N, 1]
        var one = ones([], ScalarType.Int64, tokens.device);
        return positions.ge(one).logical_and(positions.le(eot)).MoveToOuterDisposeScope();
    }

    /// <summary>Projected, L2-normalised fp32 patch tokens [N, Np, D] of <paramref name="pixels"/>.</summary>
    public static Tensor EncodeImage(ClipModel model, Tensor pixels)
    {
        using var scope = NewDisposeScope();
        using var output = model.EncodeImageTokens(pixels, projectTokens: true);
        return F.normalize(output.Tokens.to(ScalarType.Float32), dim: -1).MoveToOuterDisposeScope();
    }

    /// <summary>Projected, L2-normalised fp32 text tokens [N, L, D] and their validity mask [N, L].</summary>
    public static (Tensor Tokens, Tensor Mask) EncodeText(ClipModel model, Tensor tokens)
    {
        using var scope = NewDisposeScope();
        using var output = model.EncodeTextTokens(tokens, projectTokens: true);
        var features = F.normalize(output.Tokens.to(ScalarType.Float32), dim: -1);
        var mask = TextMask(tokens).to(features.device);
        return (features.MoveToOuterDisposeScope(), mask.MoveToOuterDisposeScope());
    }

    /// <summary>
    /// <paramref name="tokens"/> [N, L, D] with the positions where <paramref name="mask"/> [N, L] is false set to
    /// zero vectors: a mask-free form for <see cref="FilipSimilarity.ScoreZeroPadded"/>.
    /// </summary>
    public static Tensor ZeroInvalid(Tensor tokens, Tensor mask)
    {
        using var scope = NewDisposeScope();
        return (tokens * mask.unsqueeze(2).to(tokens.dtype)).MoveToOuterDisposeScope();
    }
}
