using System;
using System.Linq;
using System.Runtime.ExceptionServices;
using System.Text;
using Microsoft.ML.Clip.Distributed;

namespace Microsoft.ML.Clip.Training.Distributed;

/// <summary>What every rank learned at a step's start: the rows each rank brings, and whether any rank asked to stop.</summary>
/// <param name="RowCounts">Samples of each rank's share of the global batch, by rank.</param>
/// <param name="Cancelled">Some rank was cancelled: every rank stops after this agreement.</param>
internal sealed record StepAgreement(int[] RowCounts, bool Cancelled)
{
    /// <summary>Samples in the global batch.</summary>
    public int TotalRows => RowCounts.Sum();

    /// <summary>Index of rank <paramref name="rank"/>'s first sample in the global batch.</summary>
    public int StartOf(int rank) => RowCounts.Take(rank).Sum();
}

/// <summary>
/// How the ranks of a job learn about each other's failures without deadlocking: every rank reports its state at
/// fixed points of a step (a failed rank keeps taking part in the collectives, with a flag set), and when any
/// rank failed, all exchange their messages and throw together: the failed rank its own exception, the others a
/// <see cref="DistributedTrainingException"/> naming the failed rank and its error.
/// </summary>
internal static class JobHealth
{
    private const int MessageBytes = 1024;
    private const int Ok = 0, Failed = 1, Cancelled = 2;

    /// <summary>
    /// The agreement at the start of a step: each rank says how many rows it brings, whether reading them failed
    /// (<paramref name="failure"/>) and whether it was cancelled. Throws on every rank when any rank failed.
    /// </summary>
    public static StepAgreement Agree(ProcessGroup group, int rows, Exception? failure, bool cancelled)
    {
        ArgumentNullException.ThrowIfNull(group);
        int status = failure is not null ? Failed : cancelled ? Cancelled : Ok;
        var all = new int[2 * group.Size];
        group.AllGather([status, failure is null ? rows : 0], all);
        if (Enumerable.Range(0, group.Size).Any(r => all[2 * r] == Failed))
            Raise(group, failure);
        var counts = Enumerable.Range(0, group.Size).Select(r => all[2 * r + 1]).ToArray();
        return new StepAgreement(counts, Enumerable.Range(0, group.Size).Any(r => all[2 * r] == Cancelled));
    }

    /// <summary>
    /// Called by every rank once a failure flag reached all of them: exchanges the messages and throws — the failed
    /// rank its own <paramref name="localFailure"/>, the others an exception naming the failed ranks.
    /// </summary>
    [System.Diagnostics.CodeAnalysis.DoesNotReturn]
    public static void Raise(ProcessGroup group, Exception? localFailure)
    {
        ArgumentNullException.ThrowIfNull(group);
        var mine = new byte[MessageBytes];
        if (localFailure is not null)
        {
            mine[0] = 1;
            string text = $"{localFailure.GetType().Name}: {localFailure.Message}";
            var bytes = Encoding.UTF8.GetBytes(text);
            Array.Copy(bytes, 0, mine, 1, Math.Min(bytes.Length, MessageBytes - 1));
        }
        var all = new byte[MessageBytes * group.Size];
        group.AllGather(mine, all);
        if (localFailure is not null)
            ExceptionDispatchInfo.Capture(localFailure).Throw();
        var failed = Enumerable.Range(0, group.Size).Where(r => all[r * MessageBytes] == 1).ToArray();
        var messages = failed.Select(r => $"rank {r}: {Decode(all, r * MessageBytes + 1)}");
        throw new DistributedTrainingException(
            $"Distributed training stopped on all {group.Size} processes because {(failed.Length == 1 ? "one process" : $"{failed.Length} processes")} failed — {string.Join("; ", messages)}")
        { FailedRanks = failed };
    }

    private static string Decode(byte[] buffer, int offset)
    {
        int end = Array.IndexOf(buffer, (byte)0, offset, MessageBytes - 1);
        if (end < 0) end = offset + MessageBytes - 1;
        return Encoding.UTF8.GetString(buffer, offset, end - offset);
    }
}
