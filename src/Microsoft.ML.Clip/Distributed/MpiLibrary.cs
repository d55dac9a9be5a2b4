using System;
using System.Collections.Generic;
using System.Runtime.InteropServices;

namespace Microsoft.ML.Clip.Distributed;

/// <summary>
/// The few MPI functions distributed training needs, bound at run time to an MPI library with MPICH's ABI
/// (MPICH, Intel MPI, MVAPICH, Cray MPICH; MS-MPI on Windows). Binding at run time keeps MPI optional: a
/// single-process user never loads it. Handles in this ABI are 32-bit integers with the constants below
/// (from MPICH's mpi.h). Open MPI uses another ABI (pointer handles) and is refused with a clear error.
/// </summary>
/// <remarks>
/// Why not MPI.NET: it reaches its collectives over arrays of arrays through BinaryFormatter, which .NET 10
/// removed, and offers no non-blocking collectives; the dozen entry points here are all the trainer uses.
/// </remarks>
internal sealed unsafe class MpiLibrary
{
    public const int Success = 0;
    public const int CommWorld = 0x44000000;
    public const int Byte = 0x4c00010d;
    public const int Int = 0x4c000405;
    public const int Float = 0x4c00040a;
    public const int Double = 0x4c00080b;
    public const int OpMax = 0x58000001;
    public const int OpSum = 0x58000003;
    public const int ErrorsReturn = 0x54000001;
    public const int ThreadFunneled = 1;
    public const int MaxErrorString = 512;
    public static readonly IntPtr InPlace = new(-1);
    public static readonly IntPtr StatusIgnore = new(1);

    /// <summary>Environment variable naming the MPI shared library to load, overriding the search.</summary>
    public const string LibraryVariable = "CLIP_MPI_LIBRARY";

    private readonly IntPtr _handle;

    public readonly delegate* unmanaged<int*, IntPtr*, int, int*, int> InitThread;
    public readonly delegate* unmanaged<int*, int> Initialized;
    public readonly delegate* unmanaged<int*, int> Finalized;
    public readonly delegate* unmanaged<int> Finalize;
    public readonly delegate* unmanaged<int, int*, int> CommRank;
    public readonly delegate* unmanaged<int, int*, int> CommSize;
    public readonly delegate* unmanaged<int, int, int> CommSetErrhandler;
    public readonly delegate* unmanaged<int, int, int> Abort;
    public readonly delegate* unmanaged<int, int> Barrier;
    public readonly delegate* unmanaged<void*, int, int, int, int, int> Bcast;
    public readonly delegate* unmanaged<void*, int, int, void*, int, int, int, int> Allgather;
    public readonly delegate* unmanaged<void*, int, int, void*, int*, int*, int, int, int> Allgatherv;
    public readonly delegate* unmanaged<void*, void*, int, int, int, int, int> Allreduce;
    public readonly delegate* unmanaged<void*, void*, int*, int, int, int, int> ReduceScatter;
    public readonly delegate* unmanaged<int, byte*, int*, int> ErrorString;

    private MpiLibrary(IntPtr handle, string name)
    {
        _handle = handle;
        Name = name;
        InitThread = (delegate* unmanaged<int*, IntPtr*, int, int*, int>)Export("MPI_Init_thread");
        Initialized = (delegate* unmanaged<int*, int>)Export("MPI_Initialized");
        Finalized = (delegate* unmanaged<int*, int>)Export("MPI_Finalized");
        Finalize = (delegate* unmanaged<int>)Export("MPI_Finalize");
        CommRank = (delegate* unmanaged<int, int*, int>)Export("MPI_Comm_rank");
        CommSize = (delegate* unmanaged<int, int*, int>)Export("MPI_Comm_size");
        CommSetErrhandler = (delegate* unmanaged<int, int, int>)Export("MPI_Comm_set_errhandler");
        Abort = (delegate* unmanaged<int, int, int>)Export("MPI_Abort");
        Barrier = (delegate* unmanaged<int, int>)Export("MPI_Barrier");
        Bcast = (delegate* unmanaged<void*, int, int, int, int, int>)Export("MPI_Bcast");
        Allgather = (delegate* unmanaged<void*, int, int, void*, int, int, int, int>)Export("MPI_Allgather");
        Allgatherv = (delegate* unmanaged<void*, int, int, void*, int*, int*, int, int, int>)Export("MPI_Allgatherv");
        Allreduce = (delegate* unmanaged<void*, void*, int, int, int, int, int>)Export("MPI_Allreduce");
        ReduceScatter = (delegate* unmanaged<void*, void*, int*, int, int, int, int>)Export("MPI_Reduce_scatter");
        ErrorString = (delegate* unmanaged<int, byte*, int*, int>)Export("MPI_Error_string");
    }

    /// <summary>The file the library was loaded from (as asked for).</summary>
    public string Name { get; }

    /// <summary>Loads the MPI library: <see cref="LibraryVariable"/> when set, else the usual MPICH-ABI names.</summary>
    public static MpiLibrary Load()
    {
        var tried = new List<string>();
        foreach (var name in Candidates())
        {
            tried.Add(name);
            if (!NativeLibrary.TryLoad(name, out var handle)) continue;
            if (NativeLibrary.TryGetExport(handle, "ompi_mpi_comm_world", out _))
                throw new DistributedTrainingException(
                    $"'{name}' is Open MPI, whose ABI differs from MPICH's that ClipMlNet binds to. Install MPICH (Debian/Ubuntu: apt-get install mpich), " +
                    $"Intel MPI or MVAPICH and launch with its mpiexec, or point {LibraryVariable} at such a library.");
            return new MpiLibrary(handle, name);
        }
        throw new DistributedTrainingException(
            $"Distributed training needs an MPI library with MPICH's ABI; none was found (tried {string.Join(", ", tried)}). " +
            $"Install MPICH (Debian/Ubuntu: apt-get install mpich; Windows: MS-MPI) or set {LibraryVariable} to the library's path.");
    }

    private static IEnumerable<string> Candidates()
    {
        if (Environment.GetEnvironmentVariable(LibraryVariable) is { Length: > 0 } configured)
        {
            yield return configured;
            yield break;
        }
        if (OperatingSystem.IsWindows()) { yield return "msmpi.dll"; yield break; }
        if (OperatingSystem.IsMacOS()) { yield return "libmpi.12.dylib"; yield return "libmpich.12.dylib"; yield break; }
        yield return "libmpi.so.12";     // MPICH, Intel MPI, MVAPICH
        yield return "libmpich.so.12";   // Debian and Ubuntu's MPICH package
    }

    /// <summary>Throws a <see cref="DistributedTrainingException"/> with MPI's own text for a failed call.</summary>
    public void Check(int code, string call)
    {
        if (code == Success) return;
        var text = new byte[MaxErrorString + 1];
        int length = 0;
        fixed (byte* p = text)
            if (ErrorString(code, p, &length) != Success) length = 0;
        string message = length > 0 ? System.Text.Encoding.ASCII.GetString(text, 0, length) : $"error code {code}";
        throw new DistributedTrainingException($"{call} failed: {message}");
    }

    private IntPtr Export(string name) => NativeLibrary.TryGetExport(_handle, name, out var address) ? address
        : throw new DistributedTrainingException($"The MPI library '{Name}' has no function {name}; it needs MPI 3 or later with MPICH's ABI.");
}
