using System;
using Microsoft.ML.Clip.Torch;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Clip.Training.Objectives.WenLan;

/// <summary>
/// A first-in-first-out queue of L2-normalized key features [K, D] (MoCo's dictionary): the oldest
/// <c>N</c> rows are overwritten by the newest batch of <c>N</c> keys. K must be a multiple of N so a batch
/// never wraps around the end (as MoCo's <c>_dequeue_and_enqueue</c> asserts). Never part of autograd.
/// </summary>
internal sealed class FeatureQueue : IDisposable
{
    private readonly Tensor _features;
    private readonly Tensor _pointer; // 0-dim int64: the row the next batch is written to (a tensor so it checkpoints)
    private long _position;           // the same on the host, so that a step never reads the device to find it

    /// <summary>A queue of <paramref name="size"/> random unit vectors of width <paramref name="dim"/>, as MoCo
    /// initializes it: the first steps then see random negatives rather than zeros.</summary>
    public FeatureQueue(long size, long dim, Device device)
    {
        if (size <= 0 || dim <= 0) throw new ArgumentOutOfRangeException(nameof(size), $"Queue size and width must be positive, got {size} × {dim}.");
        using var scope = NewDisposeScope();
        var random = randn(new[] { size, dim }, ScalarType.Float32, device);
        _features = nn.functional.normalize(random, dim: 1).DetachFromDisposeScope();
        _pointer = zeros(Array.Empty<long>(), ScalarType.Int64, device).DetachFromDisposeScope();
    }

    /// <summary>The queued features [K, D] (live tensor; read it without gradient).</summary>
    public Tensor Features => _features;

    /// <summary>The write position as a 0-dim int64 tensor (live; for checkpoints).</summary>
    public Tensor PointerTensor => _pointer;

    /// <summary>Rows K.</summary>
    public long Size => _features.shape[0];

    /// <summary>The row the next batch is written to.</summary>
    public long Pointer => _position;

    /// <summary>Throws unless batches of <paramref name="batchSize"/> tile the queue exactly.</summary>
    public void CheckBatchSize(long batchSize)
    {
        if (batchSize <= 0 || Size % batchSize != 0)
            throw new ArgumentException($"The queue length ({Size}) must be a multiple of the batch size ({batchSize}): " +
                "choose a queue size that the batch size divides.");
    }

    /// <summary>Writes <paramref name="keys"/> [N, D] over the oldest N rows and advances the pointer.</summary>
    public void Enqueue(Tensor keys)
    {
        if (keys.dim() != 2 || keys.shape[1] != _features.shape[1])
            throw new ArgumentException($"Expected keys [N, {_features.shape[1]}], got [{string.Join(", ", keys.shape)}].");
        long n = keys.shape[0];
        CheckBatchSize(n);
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        long start = _position;
        _features.narrow(0, start, n).copy_(keys.detach().to(ScalarType.Float32));
        _position = (start + n) % Size;
        using var next = _position.ToScalar(); // explicit Scalar: see ScalarSafe
        _pointer.fill_(next);
    }

    /// <summary>Restores features and pointer (shapes must match).</summary>
    public void Load(Tensor features, Tensor pointer)
    {
        if (!features.shape.AsSpan().SequenceEqual(_features.shape))
            throw new ArgumentException($"Checkpointed queue has shape [{string.Join(", ", features.shape)}], expected [{string.Join(", ", _features.shape)}].");
        using var noGrad = no_grad();
        _features.copy_(features);
        _pointer.copy_(pointer.reshape());
        _position = pointer.item<long>();
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        _features.Dispose();
        _pointer.Dispose();
    }
}
