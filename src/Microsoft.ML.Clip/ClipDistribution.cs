namespace Microsoft.ML.Clip;

/// <summary>How <c>ClipPretrain</c> spreads training over processes.</summary>
public enum ClipDistribution
{
    /// <summary>
    /// Data-parallel over MPI when the process was started by <c>mpiexec</c> with more than one process (its
    /// environment says so), otherwise this process alone. No MPI library is needed in the single-process case.
    /// </summary>
    Auto,

    /// <summary>This process alone, even under <c>mpiexec</c> (every process then trains its own model).</summary>
    SingleProcess,

    /// <summary>Data-parallel over MPI; fails with a clear error when no MPI library with MPICH's ABI can be loaded.</summary>
    Mpi,
}
