using System;
using System.Threading.Tasks;

namespace Microsoft.ML.Clip.Distributed;

/// <summary>
/// The processes of one data-parallel training job and the collective operations between them. Every process
/// (rank) calls the same collectives in the same order; rank 0 is the one that logs, checkpoints and validates.
/// </summary>
/// <remarks>
/// Buffers are passed as addresses with element counts so tensors can be exchanged without copies; callers keep
/// them alive (pinned arrays, contiguous CPU tensors) until the operation has completed.
/// </remarks>
public abstract class ProcessGroup : IDisposable
{
    /// <summary>This process's index, 0 … <see cref="Size"/> − 1.</summary>
    public abstract int Rank { get; }

    /// <summary>Processes in the job.</summary>
    public abstract int Size { get; }

    /// <summary>Processes of the job on this machine (they share its cores and GPUs).</summary>
    public abstract int LocalSize { get; }

    /// <summary>This process's index among the job's processes on this machine, 0 … <see cref="LocalSize"/> − 1.</summary>
    public abstract int LocalRank { get; }

    /// <summary>True on rank 0, the process that logs, writes checkpoints and validates.</summary>
    public bool IsMain => Rank == 0;

    /// <summary>Time spent in collective operations so far, including those that ran while the caller computed.</summary>
    public abstract TimeSpan CommunicationTime { get; }

    /// <summary>Gathers <paramref name="local"/> from every rank into <paramref name="all"/>, rank by rank (each rank the same count).</summary>
    public abstract void AllGather(int[] local, int[] all);

    /// <summary>Gathers <paramref name="local"/> from every rank into <paramref name="all"/>, rank by rank (each rank the same count).</summary>
    public abstract void AllGather(byte[] local, byte[] all);

    /// <summary>
    /// Gathers float32 blocks of different sizes: rank r sends <paramref name="counts"/>[r] elements from
    /// <paramref name="send"/>; they arrive in rank order at <paramref name="receive"/>.
    /// </summary>
    public abstract void AllGatherFloats(IntPtr send, IntPtr receive, int[] counts);

    /// <summary>
    /// Sums float32 buffers laid out as consecutive blocks of <paramref name="counts"/>[r] elements over all ranks,
    /// and leaves block r of the sum in <paramref name="receive"/> of rank r.
    /// </summary>
    public abstract void ReduceScatterSumFloats(IntPtr send, IntPtr receive, int[] counts);

    /// <summary>Sums <paramref name="count"/> float32 values in place over all ranks, without blocking the caller.</summary>
    public abstract Task AllReduceSumFloatsAsync(IntPtr buffer, int count);

    /// <summary>Sums <paramref name="values"/> in place over all ranks.</summary>
    public abstract void AllReduceSum(double[] values);

    /// <summary>Copies <paramref name="buffer"/> of <paramref name="root"/> into every rank's buffer (same length everywhere).</summary>
    public abstract void Broadcast(byte[] buffer, int root);

    /// <summary>Copies <paramref name="bytes"/> bytes at <paramref name="buffer"/> of <paramref name="root"/> to the same place on every rank.</summary>
    public abstract void Broadcast(IntPtr buffer, long bytes, int root);

    /// <summary>Waits until every rank has arrived.</summary>
    public abstract void Barrier();

    /// <summary>Ends every process of the job at once: for failures after which the ranks cannot agree any more.</summary>
    public abstract void Abort(int exitCode);

    /// <inheritdoc/>
    public virtual void Dispose() => GC.SuppressFinalize(this);
}
