using System;
using System.Linq;
using System.Net;
using System.Threading.Tasks;

namespace Microsoft.ML.Clip.Distributed;

/// <summary>
/// The processes started by <c>mpiexec</c> (MPI_COMM_WORLD). MPI is initialized on first use and finalized when
/// the process exits; every MPI call runs on one dedicated thread. Needs an MPI library with MPICH's ABI at run
/// time (MPICH, Intel MPI, MVAPICH, MS-MPI); without <c>mpiexec</c> nothing here is loaded.
/// </summary>
public sealed unsafe class MpiProcessGroup : ProcessGroup
{
    private static readonly object Gate = new();
    private static MpiProcessGroup? _world;

    private readonly MpiLibrary _mpi;
    private readonly CollectiveThread _thread;
    private (int Size, int Rank) _local;

    private MpiProcessGroup(MpiLibrary mpi, CollectiveThread thread, int rank, int size)
    {
        _mpi = mpi;
        _thread = thread;
        Rank = rank;
        Size = size;
    }

    /// <summary>
    /// True when this process was started by an MPI launcher with more than one process (the launcher's
    /// environment says so: <c>PMI_SIZE</c> for MPICH, Intel MPI and MS-MPI, <c>OMPI_COMM_WORLD_SIZE</c> for Open MPI).
    /// </summary>
    public static bool IsLaunchedByMpi => LaunchedSize() > 1;

    /// <summary>The job's processes; initializes MPI on first use.</summary>
    /// <exception cref="DistributedTrainingException">No usable MPI library, or MPI failed to start.</exception>
    public static MpiProcessGroup World
    {
        get
        {
            lock (Gate)
                return _world ??= Start();
        }
    }

    /// <inheritdoc/>
    public override int Rank { get; }

    /// <inheritdoc/>
    public override int Size { get; }

    /// <inheritdoc/>
    public override int LocalSize => _local.Size;

    /// <inheritdoc/>
    public override int LocalRank => _local.Rank;

    /// <inheritdoc/>
    public override TimeSpan CommunicationTime => _thread.Busy;

    /// <summary>The MPI library in use.</summary>
    public string LibraryName => _mpi.Name;

    private static int LaunchedSize()
    {
        foreach (var variable in new[] { "PMI_SIZE", "OMPI_COMM_WORLD_SIZE" })
            if (int.TryParse(Environment.GetEnvironmentVariable(variable), out int size))
                return size;
        return 1;
    }

    private static MpiProcessGroup Start()
    {
        var mpi = MpiLibrary.Load();
        var thread = new CollectiveThread("MPI");
        try
        {
            var (rank, size) = thread.Run(() =>
            {
                int initialized = 0, provided = 0, r = 0, s = 0;
                mpi.Check(mpi.Initialized(&initialized), "MPI_Initialized");
                if (initialized == 0)
                    mpi.Check(mpi.InitThread(null, null, MpiLibrary.ThreadFunneled, &provided), "MPI_Init_thread");
                // Errors come back as codes (turned into exceptions) rather than ending the process silently.
                mpi.Check(mpi.CommSetErrhandler(MpiLibrary.CommWorld, MpiLibrary.ErrorsReturn), "MPI_Comm_set_errhandler");
                mpi.Check(mpi.CommRank(MpiLibrary.CommWorld, &r), "MPI_Comm_rank");
                mpi.Check(mpi.CommSize(MpiLibrary.CommWorld, &s), "MPI_Comm_size");
                return (r, s);
            });
            var group = new MpiProcessGroup(mpi, thread, rank, size);
            group._local = group.FindLocalProcesses();
            AppDomain.CurrentDomain.ProcessExit += (_, _) => group.FinalizeMpi();
            return group;
        }
        catch
        {
            thread.Dispose();
            throw;
        }
    }

    private void FinalizeMpi()
    {
        // MPI_Finalize waits for every process to reach it: a rank done early (only rank 0 goes on after training)
        // waits here for the others, as it must — a rank leaving without finalizing makes mpiexec end the whole
        // job. A crashed rank does not leave the others waiting: mpiexec ends the job then.
        _thread.Run(() =>
        {
            int finalized = 0;
            if (_mpi.Finalized(&finalized) == MpiLibrary.Success && finalized == 0) _mpi.Finalize();
        });
    }

    private (int Size, int Rank) FindLocalProcesses()
    {
        // Ranks whose host name hashes alike run on this machine and share its cores (a collective, made by every
        // rank as it joins).
        int mine = StableHash(Dns.GetHostName());
        var all = new int[Size];
        AllGather([mine], all);
        return (all.Count(h => h == mine), all.Take(Rank).Count(h => h == mine));
    }

    private static int StableHash(string text)
    {
        unchecked
        {
            int hash = (int)2166136261;
            foreach (char c in text) hash = (hash ^ c) * 16777619;
            return hash;
        }
    }

    /// <inheritdoc/>
    public override void AllGather(int[] local, int[] all)
    {
        CheckSizes(local.Length, all.Length);
        _thread.Run(() =>
        {
            fixed (int* s = local)
            fixed (int* r = all)
                _mpi.Check(_mpi.Allgather(s, local.Length, MpiLibrary.Int, r, local.Length, MpiLibrary.Int, MpiLibrary.CommWorld), "MPI_Allgather");
        });
    }

    /// <inheritdoc/>
    public override void AllGather(byte[] local, byte[] all)
    {
        CheckSizes(local.Length, all.Length);
        _thread.Run(() =>
        {
            fixed (byte* s = local)
            fixed (byte* r = all)
                _mpi.Check(_mpi.Allgather(s, local.Length, MpiLibrary.Byte, r, local.Length, MpiLibrary.Byte, MpiLibrary.CommWorld), "MPI_Allgather");
        });
    }

    /// <inheritdoc/>
    public override void AllGatherFloats(IntPtr send, IntPtr receive, int[] counts)
    {
        var displacements = Displacements(counts);
        _thread.Run(() =>
        {
            fixed (int* c = counts)
            fixed (int* d = displacements)
                _mpi.Check(_mpi.Allgatherv((void*)send, counts[Rank], MpiLibrary.Float, (void*)receive, c, d, MpiLibrary.Float, MpiLibrary.CommWorld), "MPI_Allgatherv");
        });
    }

    /// <inheritdoc/>
    public override void ReduceScatterSumFloats(IntPtr send, IntPtr receive, int[] counts)
    {
        if (counts.Length != Size) throw new ArgumentException($"Expected {Size} block sizes, got {counts.Length}.", nameof(counts));
        _thread.Run(() =>
        {
            fixed (int* c = counts)
                _mpi.Check(_mpi.ReduceScatter((void*)send, (void*)receive, c, MpiLibrary.Float, MpiLibrary.OpSum, MpiLibrary.CommWorld), "MPI_Reduce_scatter");
        });
    }

    /// <inheritdoc/>
    public override Task AllReduceSumFloatsAsync(IntPtr buffer, int count) => _thread.RunAsync(() =>
        _mpi.Check(_mpi.Allreduce((void*)MpiLibrary.InPlace, (void*)buffer, count, MpiLibrary.Float, MpiLibrary.OpSum, MpiLibrary.CommWorld), "MPI_Allreduce"));

    /// <inheritdoc/>
    public override void AllReduceSum(double[] values) => _thread.Run(() =>
    {
        fixed (double* v = values)
            _mpi.Check(_mpi.Allreduce((void*)MpiLibrary.InPlace, v, values.Length, MpiLibrary.Double, MpiLibrary.OpSum, MpiLibrary.CommWorld), "MPI_Allreduce");
    });

    /// <inheritdoc/>
    public override void Broadcast(byte[] buffer, int root)
    {
        fixed (byte* b = buffer)
        {
            var address = (IntPtr)b;
            Broadcast(address, buffer.Length, root);
        }
    }

    /// <inheritdoc/>
    public override void Broadcast(IntPtr buffer, long bytes, int root) => _thread.Run(() =>
    {
        // MPI counts are 32-bit: large tensors go in pieces of 1 GiB.
        const int piece = 1 << 30;
        for (long offset = 0; offset < bytes; offset += piece)
            _mpi.Check(_mpi.Bcast((byte*)buffer + offset, (int)Math.Min(piece, bytes - offset), MpiLibrary.Byte, root, MpiLibrary.CommWorld), "MPI_Bcast");
    });

    /// <inheritdoc/>
    public override void Barrier() => _thread.Run(() => _mpi.Check(_mpi.Barrier(MpiLibrary.CommWorld), "MPI_Barrier"));

    /// <inheritdoc/>
    public override void Abort(int exitCode)
    {
        // Straight from the calling thread: the MPI thread may be blocked in a collective that will never finish.
        _mpi.Abort(MpiLibrary.CommWorld, exitCode);
        Environment.Exit(exitCode);
    }

    /// <summary>The world group lives until the process exits; disposing it does nothing.</summary>
    public override void Dispose() => base.Dispose();

    private void CheckSizes(int local, int all)
    {
        if (all != local * Size) throw new ArgumentException($"Gathering {local} values from {Size} processes needs room for {local * Size}, not {all}.");
    }

    private int[] Displacements(int[] counts)
    {
        if (counts.Length != Size) throw new ArgumentException($"Expected {Size} block sizes, got {counts.Length}.", nameof(counts));
        var result = new int[counts.Length];
        long offset = 0;
        for (int r = 0; r < counts.Length; r++)
        {
            result[r] = checked((int)offset);
            offset += counts[r];
        }
        return result;
    }
}
