using System;
using System.Collections.Generic;
using System.Linq;
using Microsoft.ML.Clip.Modeling;
using Microsoft.ML.Clip.Training.Locking;
using static TorchSharp.torch;

namespace Microsoft.ML.Clip.Training;

/// <summary>
/// One batch of paired images and captions: <see cref="Pixels"/> [B, 3, S, S] normalized float32 and
/// <see cref="Tokens"/> [B, L] int64, row i of one paired with row i of the other. Owns its tensors.
/// </summary>
public sealed class TrainingBatch : IDisposable
{
    /// <summary>Creates a batch from paired tensors, without row ids.</summary>
    public TrainingBatch(Tensor pixels, Tensor tokens) : this(pixels, tokens, null) { }

    /// <summary>Creates a batch from paired tensors.</summary>
    /// <param name="pixels">Normalized images [B, 3, S, S].</param>
    /// <param name="tokens">Token ids [B, L].</param>
    /// <param name="rowIds">
    /// An id per row naming its record (the same record has the same id in every epoch), or null. With ids, the features
    /// of a locked tower are cached across epochs (<see cref="ClipTrainerOptions.CacheLockedTowerFeatures"/>).
    /// </param>
    public TrainingBatch(Tensor pixels, Tensor tokens, IReadOnlyList<long>? rowIds)
    {
        if (pixels.dim() != 4 || tokens.dim() != 2 || pixels.shape[0] != tokens.shape[0])
            throw new ArgumentException($"Expected pixels [B, 3, S, S] and tokens [B, L] with the same B; got [{string.Join(", ", pixels.shape)}] and [{string.Join(", ", tokens.shape)}].");
        if (rowIds is not null && rowIds.Count != pixels.shape[0])
            throw new ArgumentException($"The batch has {pixels.shape[0]} rows but {rowIds.Count} row ids.", nameof(rowIds));
        Pixels = pixels;
        Tokens = tokens;
        RowIds = rowIds;
    }

    /// <summary>Normalized images [B, 3, S, S].</summary>
    public Tensor Pixels { get; }

    /// <summary>Token ids [B, L].</summary>
    public Tensor Tokens { get; }

    /// <summary>The id of each row's record, or null when the source gave none.</summary>
    public IReadOnlyList<long>? RowIds { get; }

    /// <summary>Rows in the batch.</summary>
    public int Count => (int)Pixels.shape[0];

    /// <summary>Position of this batch's first row in the step's whole batch (a micro-batch's start).</summary>
    internal int Offset { get; private init; }

    /// <summary>The trainer's features of fully locked towers for this step, or null (set by <see cref="ClipTrainer"/>).</summary>
    internal LockedTowerFeatures? Locked { get; set; }

    /// <summary>
    /// Normalized image features [B, D] (fp32) of the rows, as <c>model.EncodeImage(Pixels, normalize: true)</c>; when the
    /// trainer locked the whole image tower, computed without autograd (or taken from its cache). Objectives encode
    /// the images they score this way.
    /// </summary>
    public Tensor ImageFeatures(ClipModel model)
    {
        ArgumentNullException.ThrowIfNull(model);
        return Locked is { HasImage: true } locked ? locked.Image(model, this) : model.EncodeImage(Pixels, normalize: true);
    }

    /// <summary>Normalized text features [B, D] (fp32) of the rows, as <c>model.EncodeText(Tokens, normalize: true)</c>; see <see cref="ImageFeatures"/>.</summary>
    public Tensor TextFeatures(ClipModel model)
    {
        ArgumentNullException.ThrowIfNull(model);
        return Locked is { HasText: true } locked ? locked.Text(model, this) : model.EncodeText(Tokens, normalize: true);
    }

    /// <summary>Rows [start, start + length) as views (not owned: do not dispose the parent first).</summary>
    public TrainingBatch Slice(int start, int length) =>
        new(Pixels.narrow(0, start, length), Tokens.narrow(0, start, length), RowIds is null ? null : RowIds.Skip(start).Take(length).ToArray())
        {
            Offset = Offset + start,
            Locked = Locked,
        };

    /// <summary>Consecutive row ranges of at most <paramref name="size"/> rows covering the batch (micro-batches).</summary>
    public System.Collections.Generic.List<(int Start, int Length)> MicroBatches(int size) =>
        Enumerable.Range(0, (Count + size - 1) / size).Select(i => (i * size, Math.Min(size, Count - i * size))).ToList();

    /// <summary>The batch on <paramref name="device"/>.</summary>
    public TrainingBatch To(Device device) => new(Pixels.to(device), Tokens.to(device), RowIds);

    /// <inheritdoc/>
    public void Dispose()
    {
        Pixels.Dispose();
        Tokens.Dispose();
    }
}
