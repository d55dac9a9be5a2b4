using System;
using Microsoft.ML.Clip.Torch;
using static TorchSharp.torch;

namespace Microsoft.ML.Clip.Evaluation;

/// <summary>
/// Image–text retrieval evaluation (Recall@K, mean and median rank in both directions) on TorchSharp tensors.
/// Memory is proportional to <c>chunkSize × N</c>, never N × N, so it runs on 100k pairs.
/// </summary>
public static class RetrievalEvaluator
{
    /// <summary>
    /// Evaluates retrieval over N pairs where row i of <paramref name="imageEmbeddings"/> matches row i of
    /// <paramref name="textEmbeddings"/>. Each image queries all texts and each text queries all images; the rank
    /// of a query's true match is 1 + the number of candidates scored strictly higher (ties with the true match
    /// do not count against it; a NaN true score gives rank N). Candidates scored exactly like the true match
    /// (duplicate captions or images) are counted too, for the pessimistic ranks that count ties against it.
    /// </summary>
    /// <param name="imageEmbeddings">[N, D] image embeddings (or [N, …] with a custom <paramref name="similarity"/>).</param>
    /// <param name="textEmbeddings">[N, D] text embeddings (or [N, …] with a custom <paramref name="similarity"/>), on the same device.</param>
    /// <param name="chunkSize">
    /// Queries scored at once. Peak extra memory is about <c>chunkSize × N × 6</c> bytes for fp32 scores
    /// (scores plus two comparison masks): 1024 × 100,000 pairs ≈ 0.6 GB.
    /// </param>
    /// <param name="similarity">
    /// Null for CLIP's similarity: the dot product of L2-normalized embeddings (computed in fp32, or fp64 for
    /// fp64 inputs). Otherwise a function <c>(images [I, …], texts [T, …]) → scores [I, T]</c>, called with slices
    /// of the inputs as given (not normalized): <c>(image chunk, all texts)</c> for image→text and
    /// <c>(all images, text chunk)</c> for text→image, so a model with a non-dot-product similarity (FILIP's
    /// token-wise maximum, for example) can plug in. Larger scores mean more similar.
    /// </param>
    /// <returns>The metrics; computation happens on the inputs' device, only the ranks are copied to the CPU.</returns>
    public static RetrievalMetrics Evaluate(Tensor imageEmbeddings, Tensor textEmbeddings, int chunkSize = 1024,
        Func<Tensor, Tensor, Tensor>? similarity = null)
    {
        ArgumentNullException.ThrowIfNull(imageEmbeddings);
        ArgumentNullException.ThrowIfNull(textEmbeddings);
        if (chunkSize < 1)
            throw new ArgumentOutOfRangeException(nameof(chunkSize), chunkSize, "The chunk size must be at least 1.");
        if (imageEmbeddings.dim() < 2 || textEmbeddings.dim() < 2 || (similarity is null && (imageEmbeddings.dim() != 2 || textEmbeddings.dim() != 2)))
            throw new ArgumentException($"Embeddings must be matrices [N, D]{(similarity is null ? "" : " (or [N, …] with a custom similarity)")}; " +
                $"got images {Shape(imageEmbeddings)} and texts {Shape(textEmbeddings)}.", nameof(imageEmbeddings));
        long n = imageEmbeddings.shape[0];
        if (textEmbeddings.shape[0] != n)
            throw new ArgumentException($"Images and texts must have the same number of rows (pair i is image i and text i); " +
                $"got images {Shape(imageEmbeddings)} and texts {Shape(textEmbeddings)}.", nameof(textEmbeddings));
        if (n == 0)
            throw new ArgumentException("At least one image–text pair is needed.", nameof(imageEmbeddings));
        if (n > int.MaxValue)
            throw new ArgumentException($"At most {int.MaxValue} pairs are supported; got {n}.", nameof(imageEmbeddings));
        if (imageEmbeddings.device_type != textEmbeddings.device_type || imageEmbeddings.device_index != textEmbeddings.device_index)
            throw new ArgumentException($"Images are on {imageEmbeddings.device} and texts on {textEmbeddings.device}; put both on one device.", nameof(textEmbeddings));

        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        Func<(long start, long length), Tensor> imageToText, textToImage;
        if (similarity is null)
        {
            if (imageEmbeddings.shape[1] != textEmbeddings.shape[1])
                throw new ArgumentException($"Image and text embeddings must have the same width for the default similarity; " +
                    $"got images {Shape(imageEmbeddings)} and texts {Shape(textEmbeddings)}.", nameof(textEmbeddings));
            // A common floating dtype: torch.mm throws (and matmul aborts the process) on mixed dtypes.
            var dtype = imageEmbeddings.dtype == ScalarType.Float64 || textEmbeddings.dtype == ScalarType.Float64
                ? ScalarType.Float64 : ScalarType.Float32;
            var images = nn.functional.normalize(imageEmbeddings.detach().to_type(dtype), p: 2, dim: 1);
            var texts = nn.functional.normalize(textEmbeddings.detach().to_type(dtype), p: 2, dim: 1);
            var textsT = texts.t();
            var imagesT = images.t();
            imageToText = rows => images.narrow(0, rows.start, rows.length).mm(textsT);
            textToImage = rows => texts.narrow(0, rows.start, rows.length).mm(imagesT);
        }
        else
        {
            var images = imageEmbeddings.detach();
            var texts = textEmbeddings.detach();
            imageToText = rows => similarity(images.narrow(0, rows.start, rows.length), texts);
            textToImage = rows => similarity(images, texts.narrow(0, rows.start, rows.length)).t();
        }

        var i2t = Ranks(n, chunkSize, imageToText, "image→text");
        var t2i = Ranks(n, chunkSize, textToImage, "text→image");
        return new RetrievalMetrics((int)n, new RetrievalDirectionMetrics(i2t.Ranks, i2t.Ties), new RetrievalDirectionMetrics(t2i.Ranks, t2i.Ties));
    }

    /// <summary>
    /// 1-based ranks of the true matches and the number of other candidates tied with each, one block of queries at a time. <paramref name="scores"/> receives the
    /// block's first query and length and returns its [length, N] scores; query i's true match is candidate i.
    /// </summary>
    private static (int[] Ranks, int[] Ties) Ranks(long n, int chunkSize, Func<(long start, long length), Tensor> scores, string direction)
    {
        var ranks = new int[n];
        var ties = new int[n];
        for (long start = 0; start < n; start += chunkSize)
        {
            long length = Math.Min(chunkSize, n - start);
            using var scope = NewDisposeScope();
            var block = scores((start, length));
            if (block.dim() != 2 || block.shape[0] != length || block.shape[1] != n)
                throw new InvalidOperationException($"The {direction} similarity for {length} queries against {n} candidates " +
                    $"must have shape [{length}, {n}]; got {Shape(block)}. A custom similarity must return [images, texts].");
            var truth = ScalarSafe.Arange(start, start + length, ScalarType.Int64, block.device).unsqueeze(1);
            var trueScores = block.gather(1, truth); // [length, 1]
            // Counting in floating point is about twice as fast as an int64 sum of the mask here, and exact:
            // fp32 holds every integer up to 2^24, fp64 beyond.
            var higher = block.gt(trueScores).sum(1, type: n <= (1 << 24) ? ScalarType.Float32 : ScalarType.Float64).to_type(ScalarType.Int64);
            var rank = where(trueScores.squeeze(1).isnan(), tensor(n, ScalarType.Int64, block.device), ScalarSafe.Add(higher, 1));
            var values = rank.to(ScalarType.Int32).cpu().data<int>();
            values.CopyTo(ranks.AsSpan((int)start, (int)length), 0, 0);
            // Other candidates with exactly the true match's score (the true match itself is one of the equal ones).
            // (A NaN true score equals nothing: relu keeps its count at 0.)
            var equal = block.eq(trueScores).sum(1, type: n <= (1 << 24) ? ScalarType.Float32 : ScalarType.Float64);
            var tied = nn.functional.relu(ScalarSafe.Add(equal, -1)).to_type(ScalarType.Int32).cpu().data<int>();
            tied.CopyTo(ties.AsSpan((int)start, (int)length), 0, 0);
        }
        return (ranks, ties);
    }

    private static string Shape(Tensor tensor) => "[" + string.Join(", ", tensor.shape) + "]";
}
