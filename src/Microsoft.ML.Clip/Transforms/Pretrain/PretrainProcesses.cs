using System;
using Microsoft.ML.Clip.Distributed;
using Microsoft.ML.Clip.Transforms.Batching;
using Microsoft.ML.Runtime;
using static TorchSharp.torch;

namespace Microsoft.ML.Clip.Transforms.Pretrain;

/// <summary>
/// The processes a <c>ClipPretrain</c> run trains on: one, or the ranks of an MPI job. Holds what the estimator needs
/// to know about them (which rows this process reads, whether it is the one that logs and writes) so that the
/// training loop reads the same in both cases.
/// </summary>
internal sealed class PretrainProcesses
{
    private PretrainProcesses(ProcessGroup? group) => Group = group;

    /// <summary>The MPI job, or null when training alone.</summary>
    public ProcessGroup? Group { get; }

    /// <summary>Whether this process logs, validates and writes checkpoints (rank 0, or the only process).</summary>
    public bool IsMain => Group?.IsMain ?? true;

    /// <summary>Processes in the run.</summary>
    public int Count => Group?.Size ?? 1;

    /// <summary>This process's rank.</summary>
    public int Rank => Group?.Rank ?? 0;

    /// <summary>
    /// The device this process trains on: with several processes on a machine and a CUDA device without an index
    /// (<c>cuda</c>), each takes its own GPU (local rank modulo the GPUs present); anything else as given.
    /// </summary>
    public Device? DeviceFor(Device? requested)
    {
        if (Group is null || requested is null || requested.type != TorchSharp.DeviceType.CUDA || requested.index >= 0) return requested;
        int gpus = (int)cuda.device_count();
        return gpus > 0 ? new Device(TorchSharp.DeviceType.CUDA, Group.LocalRank % gpus) : requested;
    }

    /// <summary>Joins the MPI job when <paramref name="distribution"/> asks for it (or detects it).</summary>
    public static PretrainProcesses Create(ClipDistribution distribution)
    {
        bool useMpi = distribution switch
        {
            ClipDistribution.Mpi => true,
            ClipDistribution.Auto => MpiProcessGroup.IsLaunchedByMpi,
            _ => false,
        };
        if (!useMpi) return new PretrainProcesses(null);
        var world = MpiProcessGroup.World;
        return new PretrainProcesses(world.Size > 1 ? world : null);
    }

    /// <summary>This process's share of every epoch's rows, or null when training alone.</summary>
    public RowShard? Shard(int localBatchSize) => Group is null ? null : new RowShard(Rank, Count, localBatchSize);

    /// <summary>
    /// On the CPU, processes sharing a machine split its cores: libtorch would otherwise start as many threads as
    /// cores in every process and they would fight for them. Disposing the result restores the thread count.
    /// </summary>
    public IDisposable ShareCores(Device device, IChannel ch)
    {
        int before = get_num_threads();
        if (Group is null || device.type != TorchSharp.DeviceType.CPU) return new ThreadCount(before);
        int local = Group.LocalSize;
        int share = Math.Max(1, Environment.ProcessorCount / local);
        if (before > share)
        {
            set_num_threads(share);
            if (IsMain) ch.Info($"{local} processes share this machine's {Environment.ProcessorCount} cores: {share} libtorch threads each while training.");
        }
        return new ThreadCount(before);
    }

    private sealed class ThreadCount(int count) : IDisposable
    {
        public void Dispose()
        {
            if (get_num_threads() != count) set_num_threads(count);
        }
    }
}
