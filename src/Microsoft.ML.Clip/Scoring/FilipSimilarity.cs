using System;
using System.Collections.Generic;
using Microsoft.ML.Clip.Torch;
using static TorchSharp.torch;

namespace Microsoft.ML.Clip.Scoring;

/// <summary>
/// FILIP's token-wise late-interaction similarity (Yao et al., 2021, eq. 4–5) between every image and every text
/// of two sets, computed in blocks of images × texts so that memory is bounded by
/// <c>ChunkSize² · Np · Lt</c> scores, never <c>I · T · Np · Lt</c>.
/// </summary>
/// <remarks>
/// <para>With x_ik the k-th (L2-normalised) patch token of image i and y_jr the r-th valid (L2-normalised) token of
/// text j:</para>
/// <para>image→text <c>s^I_ij = (1/n_i) Σ_k max_r ⟨x_ik, y_jr⟩</c> (each patch finds its best word);</para>
/// <para>text→image <c>s^T_ij = (1/m_j) Σ_r max_k ⟨x_ik, y_jr⟩</c> (each word finds its best patch).</para>
/// <para>Invalid tokens (text padding, dropped patches) are set to −∞ before the maximum and left out of the mean
/// (a masked mean), so they take no part at all. Every text and every image must keep at least one valid token.</para>
/// <para>The backward pass of the maximum keeps only the arg-max indices, so gradients need no full score tensor
/// either.</para>
/// </remarks>
internal sealed class FilipSimilarity
{
    /// <summary>Creates the similarity.</summary>
    /// <param name="chunkSize">Images and texts per block (a block holds <c>chunkSize² · Np · Lt</c> scores).</param>
    public FilipSimilarity(int chunkSize = 32)
    {
        if (chunkSize < 1) throw new ArgumentOutOfRangeException(nameof(chunkSize), chunkSize, "The chunk size must be at least 1.");
        ChunkSize = chunkSize;
    }

    /// <summary>Images and texts per block.</summary>
    public int ChunkSize { get; }

    /// <summary>
    /// Both token-wise similarity matrices, each [I, T] fp32: <c>ImageToText</c> = s^I, <c>TextToImage</c> = s^T
    /// (both indexed [image, text]).
    /// </summary>
    /// <param name="imageTokens">[I, Np, D] image patch tokens, L2-normalised.</param>
    /// <param name="imageMask">[I, Np] bool, true for tokens that take part; null: all patches.</param>
    /// <param name="textTokens">[T, Lt, D] text tokens, L2-normalised.</param>
    /// <param name="textMask">[T, Lt] bool, true for tokens that take part (never padding).</param>
    public (Tensor ImageToText, Tensor TextToImage) Compute(Tensor imageTokens, Tensor? imageMask, Tensor textTokens, Tensor textMask)
    {
        Check(imageTokens, imageMask, textTokens, textMask);
        using var scope = NewDisposeScope();
        var x = imageTokens.to(ScalarType.Float32);
        var y = textTokens.to(ScalarType.Float32);
        long images = x.shape[0], patches = x.shape[1], texts = y.shape[0], words = y.shape[1], d = x.shape[2];
        var patchMask = (imageMask ?? ones([images, patches], ScalarType.Bool, x.device)).to(x.device);
        var wordMask = textMask.to(y.device);
        var patchCount = patchMask.sum(1, type: ScalarType.Float32); // [I]
        var wordCount = wordMask.sum(1, type: ScalarType.Float32);   // [T]
        var negInf = ScalarSafe.Full([], double.NegativeInfinity, ScalarType.Float32, x.device);
        var zero = zeros([], ScalarType.Float32, x.device);

        var i2tRows = new List<Tensor>();
        var t2iRows = new List<Tensor>();
        for (long i0 = 0; i0 < images; i0 += ChunkSize)
        {
            long a = Math.Min(ChunkSize, images - i0);
            var xa = x.narrow(0, i0, a).reshape(a * patches, d);
            var pm = patchMask.narrow(0, i0, a).view(a, 1, patches, 1);
            var pc = patchCount.narrow(0, i0, a).view(a, 1);
            var i2t = new List<Tensor>();
            var t2i = new List<Tensor>();
            for (long t0 = 0; t0 < texts; t0 += ChunkSize)
            {
                long b = Math.Min(ChunkSize, texts - t0);
                var yb = y.narrow(0, t0, b).reshape(b * words, d);
                var wm = wordMask.narrow(0, t0, b).view(1, b, 1, words);
                // [a·Np, b·Lt] dot products, viewed as [a, b, Np, Lt].
                var sim = xa.mm(yb.t()).view(a, patches, b, words).permute(0, 2, 1, 3);
                // s^I: best valid word per patch, then the mean over valid patches.
                var bestWord = where(wm, sim, negInf).amax([3]);            // [a, b, Np]
                var sI = where(pm.squeeze(3), bestWord, zero).sum(2) / pc;  // [a, b]
                // s^T: best valid patch per word, then the mean over valid words.
                var bestPatch = where(pm, sim, negInf).amax([2]);           // [a, b, Lt]
                var sT = where(wm.squeeze(2), bestPatch, zero).sum(2) / wordCount.narrow(0, t0, b).view(1, b);
                i2t.Add(sI);
                t2i.Add(sT);
            }
            i2tRows.Add(cat(i2t, 1));
            t2iRows.Add(cat(t2i, 1));
        }
        var imageToText = cat(i2tRows, 0).MoveToOuterDisposeScope();
        var textToImage = cat(t2iRows, 0).MoveToOuterDisposeScope();
        return (imageToText, textToImage);
    }

    /// <summary>
    /// The symmetric score used for retrieval and zero-shot classification: <c>½(s^I + s^T)</c>, [I, T] fp32.
    /// Both directions are trained by the loss, so their mean uses all of what was learned and ranks images and
    /// texts with one matrix.
    /// </summary>
    public Tensor Score(Tensor imageTokens, Tensor? imageMask, Tensor textTokens, Tensor textMask)
    {
        using var scope = NewDisposeScope();
        var (sI, sT) = Compute(imageTokens, imageMask, textTokens, textMask);
        return ScalarSafe.Div(ScalarSafe.Add(sI, sT), 2).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// <see cref="Score"/> for token features whose invalid positions are all-zero vectors (valid tokens are unit
    /// vectors, so zero rows are unambiguous): the form taken by <c>RetrievalEvaluator.Evaluate(..., similarity:)</c>,
    /// which slices features but passes no masks. See <see cref="FilipTokenFeatures.ZeroInvalid"/>.
    /// </summary>
    public Tensor ScoreZeroPadded(Tensor imageTokens, Tensor textTokens)
    {
        using var scope = NewDisposeScope();
        var imageMask = imageTokens.abs().amax([2]).gt(zeros([], imageTokens.dtype, imageTokens.device));
        var textMask = textTokens.abs().amax([2]).gt(zeros([], textTokens.dtype, textTokens.device));
        return Score(imageTokens, imageMask, textTokens, textMask).MoveToOuterDisposeScope();
    }

    private static void Check(Tensor imageTokens, Tensor? imageMask, Tensor textTokens, Tensor textMask)
    {
        ArgumentNullException.ThrowIfNull(imageTokens);
        ArgumentNullException.ThrowIfNull(textTokens);
        ArgumentNullException.ThrowIfNull(textMask);
        if (imageTokens.dim() != 3 || textTokens.dim() != 3 || imageTokens.shape[2] != textTokens.shape[2])
            throw new ArgumentException($"Expected image tokens [I, Np, D] and text tokens [T, Lt, D]; got {Shape(imageTokens)} and {Shape(textTokens)}.");
        if (textMask.dim() != 2 || textMask.shape[0] != textTokens.shape[0] || textMask.shape[1] != textTokens.shape[1] || textMask.dtype != ScalarType.Bool)
            throw new ArgumentException($"Expected a bool text mask [T, Lt] for text tokens {Shape(textTokens)}; got {Shape(textMask)} {textMask.dtype}.", nameof(textMask));
        if (imageMask is not null && (imageMask.dim() != 2 || imageMask.shape[0] != imageTokens.shape[0] || imageMask.shape[1] != imageTokens.shape[1] || imageMask.dtype != ScalarType.Bool))
            throw new ArgumentException($"Expected a bool image mask [I, Np] for image tokens {Shape(imageTokens)}; got {Shape(imageMask)} {imageMask.dtype}.", nameof(imageMask));
    }

    private static string Shape(Tensor t) => "[" + string.Join(", ", t.shape) + "]";
}
