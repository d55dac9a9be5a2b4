using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Linq;
using System.Threading.Tasks;
using Microsoft.ML.Clip.Distributed;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Microsoft.ML.Clip.Training.Distributed;

/// <summary>
/// Sums the gradients of every rank in flattened float32 buckets of about <see cref="BucketElements"/> values each
/// (few large messages instead of one per tensor, as PyTorch's DistributedDataParallel). Parameters fall in
/// phases reduced one after the other: a phase's buckets are sent as soon as its gradients are final, and travel
/// while the caller back-propagates the next phase (the trainer's first phase is everything but the image tower,
/// whose backward then overlaps the communication).
/// </summary>
/// <remarks>
/// The layout is fixed when the reducer is made (every trainable parameter, missing gradients sent as zeros), so
/// all ranks always exchange buffers of the same sizes. The last bucket carries two more values: the rank's loss
/// and its failure flag, summed with the gradients at no extra message.
/// </remarks>
internal sealed class GradientBuckets : IDisposable
{
    /// <summary>Values per bucket: 4 Mi floats = 16 MiB.</summary>
    public const int BucketElements = 4 << 20;

    private readonly ProcessGroup _group;
    private readonly List<Bucket> _buckets = [];
    private readonly List<Task> _pending = [];
    private readonly Stopwatch _waiting = new();

    private sealed record Slot(string Name, Parameter Parameter, long Offset, long Length);

    private sealed class Bucket(int phase, List<Slot> slots, long length) : IDisposable
    {
        public int Phase { get; } = phase;
        public List<Slot> Slots { get; } = slots;
        public Tensor Buffer { get; } = zeros(length, dtype: ScalarType.Float32).DetachFromDisposeScope();
        public bool[] Present { get; } = new bool[slots.Count];
        public void Dispose() => Buffer.Dispose();
    }

    /// <summary>Lays out <paramref name="parameters"/> (in this order) in phases given by <paramref name="phaseOf"/> (0, 1, ...).</summary>
    public GradientBuckets(ProcessGroup group, IReadOnlyList<(string Name, Parameter Parameter)> parameters, Func<string, int> phaseOf)
    {
        _group = group;
        var byPhase = parameters.Where(p => p.Parameter.requires_grad).GroupBy(p => phaseOf(p.Name)).OrderBy(g => g.Key).ToList();
        foreach (var phase in byPhase)
        {
            var slots = new List<Slot>();
            long length = 0;
            foreach (var (name, parameter) in phase)
            {
                long n = parameter.numel();
                if (length > 0 && length + n > BucketElements)
                {
                    _buckets.Add(new Bucket(phase.Key, slots, length));
                    slots = [];
                    length = 0;
                }
                slots.Add(new Slot(name, parameter, length, n));
                length += n;
            }
            if (slots.Count > 0) _buckets.Add(new Bucket(phase.Key, slots, length));
        }
        // Room for the loss and the failure flag at the end of the last bucket.
        var last = _buckets.Count > 0 ? _buckets[^1] : null;
        if (last is null)
            _buckets.Add(new Bucket(int.MaxValue, [], 2));
        else
        {
            _buckets[^1].Dispose();
            _buckets[^1] = new Bucket(last.Phase, last.Slots, last.Slots.Sum(s => s.Length) + 2);
        }
        Phases = _buckets.Select(b => b.Phase).Distinct().Order().ToArray();
        CheckSameLayout();
    }

    /// <summary>
    /// Every rank must sum the same parameters in the same buckets (locked parameters are left out on all of them): the
    /// ranks compare their layouts once, so a rank that locked other parameters fails here with a clear error rather
    /// than mixing up gradients.
    /// </summary>
    private void CheckSameLayout()
    {
        long values = _buckets.Sum(b => b.Buffer.shape[0]);
        int tensors = _buckets.Sum(b => b.Slots.Count);
        // Not HashCode.Combine: its seed differs per process.
        int names = _buckets.SelectMany(b => b.Slots).Aggregate(17, (h, slot) => unchecked((h * 31 + StableHash(slot.Name)) * 31 + (int)slot.Length));
        var all = new int[4 * _group.Size];
        _group.AllGather([(int)values, (int)(values >> 32), tensors, names], all);
        var layouts = Enumerable.Range(0, _group.Size).Select(r => (Values: (long)(uint)all[4 * r] | ((long)all[4 * r + 1] << 32), Tensors: all[4 * r + 2], Names: all[4 * r + 3])).ToArray();
        if (layouts.Distinct().Count() > 1)
            throw new InvalidOperationException("The processes train different parameters (" +
                string.Join("; ", layouts.Select((l, r) => $"rank {r}: {l.Tensors} tensors, {l.Values:N0} values")) +
                "); every process must lock the same towers (ClipTrainerOptions.ImageTowerLock / TextTowerLock) and use the same objective.");
    }

    /// <summary>A hash of a name that is the same in every process (string.GetHashCode is randomized per process).</summary>
    private static int StableHash(string text)
    {
        uint hash = 2166136261;
        foreach (char c in text) hash = (hash ^ c) * 16777619;
        return (int)hash;
    }

    /// <summary>The phases, in the order they must be started.</summary>
    public int[] Phases { get; }

    /// <summary>Time the caller spent waiting for communication in <see cref="Finish"/>.</summary>
    public TimeSpan Waiting => _waiting.Elapsed;

    /// <summary>
    /// Copies the current gradients of <paramref name="phase"/>'s parameters into its buckets and starts summing
    /// them over all ranks. The last phase also sends <paramref name="loss"/> and <paramref name="failed"/>.
    /// </summary>
    public void Start(int phase, double loss = 0, bool failed = false)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        foreach (var bucket in _buckets.Where(b => b.Phase == phase))
        {
            for (int i = 0; i < bucket.Slots.Count; i++)
            {
                var slot = bucket.Slots[i];
                var target = bucket.Buffer.narrow(0, slot.Offset, slot.Length);
                var grad = slot.Parameter.grad;
                bucket.Present[i] = grad is not null;
                if (grad is null || failed) target.zero_();
                else target.copy_(grad.reshape(-1));
            }
            if (ReferenceEquals(bucket, _buckets[^1]))
            {
                long end = bucket.Buffer.shape[0];
                bucket.Buffer[end - 2] = tensor((float)loss);
                bucket.Buffer[end - 1] = tensor(failed ? 1f : 0f);
            }
            _pending.Add(_group.AllReduceSumFloatsAsync(HostBuffer.Address(bucket.Buffer), (int)bucket.Buffer.shape[0]));
        }
    }

    /// <summary>
    /// Waits for every bucket and returns the summed gradients as float32 tensors on each parameter's device
    /// (in place in the parameter's own gradient when that is float32), the summed loss and whether any rank failed.
    /// Parameters without a gradient on this rank are left out, as in single-process training.
    /// </summary>
    public (Dictionary<string, Tensor> Gradients, double Loss, bool AnyFailed) Finish()
    {
        _waiting.Start();
        try { Task.WaitAll(_pending.ToArray()); }
        finally
        {
            _waiting.Stop();
            _pending.Clear();
        }
        var result = new Dictionary<string, Tensor>();
        using (no_grad())
            foreach (var bucket in _buckets)
                for (int i = 0; i < bucket.Slots.Count; i++)
                {
                    if (!bucket.Present[i]) continue;
                    var slot = bucket.Slots[i];
                    var grad = slot.Parameter.grad!;
                    var sum = bucket.Buffer.narrow(0, slot.Offset, slot.Length).view(slot.Parameter.shape);
                    if (grad.dtype == ScalarType.Float32)
                    {
                        grad.copy_(sum);
                        result[slot.Name] = grad;
                    }
                    else
                    {
                        result[slot.Name] = sum.to(slot.Parameter.device, copy: true);
                    }
                }
        var lastBuffer = _buckets[^1].Buffer;
        long end = lastBuffer.shape[0];
        double loss = lastBuffer[end - 2].item<float>();
        bool anyFailed = lastBuffer[end - 1].item<float>() > 0;
        return (result, loss, anyFailed);
    }

    public void Dispose()
    {
        foreach (var bucket in _buckets) bucket.Dispose();
    }
}
