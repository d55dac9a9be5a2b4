using System;
using static TorchSharp.torch;

namespace Microsoft.ML.Clip.Training;

/// <summary>
/// Where a <see cref="TrainingRun"/> reads its image–caption pairs, an epoch at a time. In a data-parallel run every
/// process opens the same epoch in the same order and reads its own share of every global batch.
/// </summary>
public interface ITrainingBatchSource
{
    /// <summary>Rows of one epoch over all processes; with the global batch size it fixes the steps per epoch.</summary>
    long RowCount { get; }

    /// <summary>Rows this process dropped as unreadable so far (a source that skips bad rows), reported at the end.</summary>
    long SkippedRows { get; }

    /// <summary>
    /// Starts epoch <paramref name="epoch"/> (0-based). The order may differ per epoch, but must be the same on every
    /// process and when a resumed run opens the epoch again.
    /// </summary>
    ITrainingBatchReader OpenEpoch(int epoch);
}

/// <summary>One epoch of an <see cref="ITrainingBatchSource"/>, read batch by batch.</summary>
public interface ITrainingBatchReader : IDisposable
{
    /// <summary>
    /// This process's rows of the next global batch, or null when the epoch's data ended. A resumed run reads the
    /// batches it trained on before its checkpoint too and drops them, so the reader needs no way to seek.
    /// </summary>
    SourceBatch? Next();
}

/// <summary>
/// A batch as a source read it: how many rows it holds (fewer than asked when bad rows were dropped or the data
/// ended) and its tensors, made only for the batches that are trained on.
/// </summary>
public abstract class SourceBatch
{
    /// <summary>Rows in the batch.</summary>
    public abstract int Count { get; }

    /// <summary>The batch as tensors on <paramref name="device"/>, owned by the caller from then on; called at most once.</summary>
    public abstract TrainingBatch ToTensors(Device device);

    /// <summary>A batch already in tensors (it takes them over): <see cref="ToTensors"/> hands them on, moved when on another device.</summary>
    public static SourceBatch FromTensors(Tensor pixels, Tensor tokens) => new TensorSourceBatch(new TrainingBatch(pixels, tokens));

    private sealed class TensorSourceBatch(TrainingBatch batch) : SourceBatch
    {
        public override int Count => batch.Count;

        public override TrainingBatch ToTensors(Device device)
        {
            if (batch.Pixels.device_type == device.type && batch.Pixels.device_index == device.index) return batch;
            using (batch) return batch.To(device);
        }
    }
}
