namespace Microsoft.ML.Clip;

/// <summary>How a model compares an image with a text: what its training objective optimised.</summary>
public enum ClipSimilarityKind
{
    /// <summary>CLIP's cosine of the pooled, L2-normalised embeddings.</summary>
    GlobalCosine = 0,

    /// <summary>
    /// FILIP's token-wise late interaction: ½(s^I + s^T) over projected, normalised patch and text tokens
    /// (see <c>Training.Objectives.Filip.FilipSimilarity</c>).
    /// </summary>
    FilipTokenWise = 1,
}
