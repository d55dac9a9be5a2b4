using System;
using System.Collections.Generic;
using System.Text.Json;
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
internal static class TrainingStateSync
{
    /// <summary>
    /// Sends rank 0's state to every rank and loads it there; returns the position and the objective's state as
    /// rank 0 had them (rank 0 gets its own arguments back). Tensor by tensor, so no size limit applies but memory.
    /// </summary>
    public static (TrainingPosition Position, IReadOnlyDictionary<string, Tensor> ObjectiveState) Broadcast(
        ProcessGroup group, ClipModel model, AdamW optimizer, IReadOnlyDictionary<string, Tensor> objectiveState, TrainingPosition position)
    {
        ArgumentNullException.ThrowIfNull(group);
        using var scope = NewDisposeScope();
        // 1. What rank 0 holds: names, dtypes and shapes, and the position.
        var entries = group.IsMain ? TrainingCheckpoints.Contents(model, optimizer, objectiveState) : null;
        var header = group.IsMain
            ? JsonSerializer.SerializeToUtf8Bytes(new StateHeader(position,
                entries!.Select(e => new StateEntry(e.Key, e.Value.dtype.ToString(), e.Value.shape)).ToList()))
            : [];
        var length = BitConverter.GetBytes((long)header.Length);
        group.Broadcast(length, root: 0);
        if (!group.IsMain) header = new byte[BitConverter.ToInt64(length)];
        group.Broadcast(header, root: 0);
        var manifest = JsonSerializer.Deserialize<StateHeader>(header)!;

        // 2. The tensors, one by one, through host memory.
        var received = new Dictionary<string, Tensor>();
        for (int i = 0; i < manifest.Entries.Count; i++)
        {
            var entry = manifest.Entries[i];
            var host = group.IsMain ? entries![i].Value.detach().cpu().contiguous()
                : empty(entry.Shape, dtype: Enum.Parse<ScalarType>(entry.DType));
            group.Broadcast(HostBuffer.Address(host), host.numel() * host.ElementSize, root: 0);
            if (!group.IsMain) received[entry.Name] = host;
        }
        if (group.IsMain) return (position, objectiveState);
        var objective = TrainingCheckpoints.Apply(received, "rank 0's training state", model, optimizer);
        return (manifest.Position, objective);
    }

    private sealed record StateEntry(string Name, string DType, long[] Shape);

    private sealed record StateHeader(TrainingPosition Position, List<StateEntry> Entries);

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
