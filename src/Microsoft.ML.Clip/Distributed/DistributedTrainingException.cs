using System;

namespace Microsoft.ML.Clip.Distributed;

/// <summary>
/// Distributed training cannot go on: MPI is missing or failed, or another process of the job failed (the message
/// names its rank and its error). Every process of the job throws it at the same step.
/// </summary>
public sealed class DistributedTrainingException : Exception
{
    /// <summary>Creates the exception.</summary>
    public DistributedTrainingException(string message) : base(message) { }

    /// <summary>Creates the exception with its cause.</summary>
    public DistributedTrainingException(string message, Exception inner) : base(message, inner) { }

    /// <summary>Ranks whose failure this reports (empty when the failure is this process's MPI itself).</summary>
    public int[] FailedRanks { get; init; } = [];
}
