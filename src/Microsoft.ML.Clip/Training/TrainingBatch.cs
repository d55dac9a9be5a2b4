using System;
using System.Linq;
using static TorchSharp.torch;

namespace Microsoft.ML.Clip.Training;

/// <summary>
/// One batch of paired images and captions: <see cref="Pixels"/> [B, 3, S, S] normalized float32 and
/// <see cref="Tokens"/> [B, L] int64, row i of one paired with row i of the other. Owns its tensors.
/// </summary>
public sealed class TrainingBatch : IDisposable
{
    /// <summary>Creates a batch from paired tensors.</summary>
    public TrainingBatch(Tensor pixels, Tensor tokens)
    {
        if (pixels.dim() != 4 || tokens.dim() != 2 || pixels.shape[0] != tokens.shape[0])
            throw new ArgumentException($"Expected pixels [B, 3, S, S] and tokens [B, L] with the same B; got [{string.Join(", ", pixels.shape)}] and [{string.Join(", ", tokens.shape)}].");
        Pixels = pixels;
        Tokens = tokens;
    }

    /// <summary>Normalized images [B, 3, S, S].</summary>
    public Tensor Pixels { get; }

    /// <summary>Token ids [B, L].</summary>
    public Tensor Tokens { get; }

    /// <summary>Rows in the batch.</summary>
    public int Count => (int)Pixels.shape[0];

    /// <summary>Rows [start, start + length) as views (not owned: do not dispose the parent first).</summary>
    public TrainingBatch Slice(int start, int length) => new(Pixels.narrow(0, start, length), Tokens.narrow(0, start, length));

    /// <summary>Consecutive row ranges of at most <paramref name="size"/> rows covering the batch (micro-batches).</summary>
    public System.Collections.Generic.List<(int Start, int Length)> MicroBatches(int size) =>
        Enumerable.Range(0, (Count + size - 1) / size).Select(i => (i * size, Math.Min(size, Count - i * size))).ToList();

    /// <summary>The batch on <paramref name="device"/>.</summary>
    public TrainingBatch To(Device device) => new(Pixels.to(device), Tokens.to(device));

    /// <inheritdoc/>
    public void Dispose()
    {
        Pixels.Dispose();
        Tokens.Dispose();
    }
}
