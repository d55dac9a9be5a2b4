using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using Microsoft.ML.Clip.Distributed;
using Microsoft.ML.Clip.Modeling;
using static TorchSharp.torch;

namespace Microsoft.ML.Clip.Training.Distributed;

/// <summary>
/// Keeps the processes of a data-parallel job on the same weights: rank 0's whole training state (model, optimizer,
/// objective, position: a checkpoint's contents) is sent to every rank at the start, so a fresh run and a run resumed
/// from rank 0's checkpoint — with any number of processes — start identical; checksums compare them later.
/// </summary>
public static class TrainingStateSync
{
    /// <summary>
    /// Sends rank 0's state to every rank and loads it there; returns the position and the objective's state as
    /// rank 0 had them (rank 0 gets its own arguments back).
    /// </summary>
    public static (TrainingPosition Position, IReadOnlyDictionary<string, Tensor> ObjectiveState) Broadcast(
        ProcessGroup group, ClipModel model, AdamW optimizer, IReadOnlyDictionary<string, Tensor> objectiveState, TrainingPosition position)
    {
        ArgumentNullException.ThrowIfNull(group);
        byte[] payload = [];
        if (group.IsMain)
        {
            using var stream = new MemoryStream();
            TrainingCheckpoints.Write(stream, model, optimizer, objectiveState, position);
            payload = stream.ToArray();
        }
        var length = BitConverter.GetBytes((long)payload.Length);
        group.Broadcast(length, root: 0);
        if (!group.IsMain) payload = new byte[BitConverter.ToInt64(length)];
        group.Broadcast(payload, root: 0);
        if (group.IsMain) return (position, objectiveState);
        using var received = new MemoryStream(payload, writable: false);
        var (p, state) = TrainingCheckpoints.Read(received, "rank 0's training state", model, optimizer);
        return (p, state);
    }

    /// <summary>A 64-bit FNV-1a-style hash of every parameter and buffer's bytes, in state-dict order: equal only for identical weights.</summary>
    public static ulong Checksum(ClipModel model)
    {
        ArgumentNullException.ThrowIfNull(model);
        ulong hash = 14695981039346656037UL;
        using var scope = NewDisposeScope();
        foreach (var (_, tensor) in model.state_dict())
        {
            var host = tensor.detach().cpu().contiguous();
            var bytes = host.bytes;
            // FNV-1a over 8-byte words (then the tail bytes): fast enough for a check after every epoch.
            var words = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, ulong>(bytes);
            foreach (ulong w in words) hash = (hash ^ w) * 1099511628211UL;
            foreach (byte b in bytes[(words.Length * 8)..]) hash = (hash ^ b) * 1099511628211UL;
        }
        return hash;
    }

    /// <summary>Compares <see cref="Checksum"/> across ranks; throws on every rank when they differ.</summary>
    public static void VerifyIdentical(ProcessGroup group, ClipModel model)
    {
        ArgumentNullException.ThrowIfNull(group);
        ulong mine = Checksum(model);
        var all = new int[2 * group.Size];
        group.AllGather([(int)(mine & 0xffffffff), (int)(mine >> 32)], all);
        var sums = Enumerable.Range(0, group.Size).Select(r => (ulong)(uint)all[2 * r] | ((ulong)(uint)all[2 * r + 1] << 32)).ToArray();
        if (sums.Distinct().Count() > 1)
            throw new DistributedTrainingException(
                $"The processes' weights differ (checksums by rank: {string.Join(", ", sums.Select(s => s.ToString("x16")))}); the job cannot continue consistently.");
    }
}
