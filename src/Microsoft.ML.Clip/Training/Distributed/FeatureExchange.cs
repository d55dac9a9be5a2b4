using System;
using System.Collections.Generic;
using System.Linq;
using Microsoft.ML.Clip.Distributed;
using Microsoft.ML.Clip.Training.Objectives;
using static TorchSharp.torch;

namespace Microsoft.ML.Clip.Training.Distributed;

/// <summary>
/// The global batch's features on every rank ("all-gather with gradient", as open_clip's gather_with_grad):
/// each rank's features are gathered into leaf tensors; after the local loss is back-propagated to them,
/// <see cref="ReduceGradients"/> sums every rank's gradient with respect to this rank's rows, which is the
/// gradient of the global loss with respect to this rank's features.
/// </summary>
/// <remarks>
/// Tensors travel as float32 on the CPU (MPI is not assumed to read device memory); bfloat16 and integer features
/// round-trip exactly. Each rank's block holds its rows of every feature, by name in ordinal order.
/// </remarks>
internal sealed class FeatureExchange : IDisposable
{
    private readonly ProcessGroup _group;
    private readonly string[] _names;
    private readonly long[] _rowElements;     // per name: elements of one sample
    private readonly int[] _rowCounts;        // per rank
    private readonly Dictionary<string, Tensor> _leaves;

    private FeatureExchange(ProcessGroup group, string[] names, long[] rowElements, int[] rowCounts, Dictionary<string, Tensor> leaves)
    {
        _group = group;
        _names = names;
        _rowElements = rowElements;
        _rowCounts = rowCounts;
        _leaves = leaves;
        Global = new ObjectiveFeatures(leaves);
    }

    /// <summary>Every rank's features, concatenated in rank order; float features that carry gradient locally are leaves requiring it.</summary>
    public ObjectiveFeatures Global { get; }

    /// <summary>First row of this rank's samples in <see cref="Global"/>.</summary>
    public long Start => _rowCounts.Take(_group.Rank).Sum();

    /// <summary>This rank's samples.</summary>
    public long Count => _rowCounts[_group.Rank];

    /// <summary>
    /// Gathers <paramref name="local"/> from every rank; <paramref name="rowCounts"/> are the ranks' sample counts and
    /// <paramref name="withGradient"/> the features whose gradient flows back to the encoders.
    /// </summary>
    public static FeatureExchange Gather(ProcessGroup group, ObjectiveFeatures local, int[] rowCounts, IReadOnlySet<string> withGradient)
    {
        var names = local.Names.OrderBy(n => n, StringComparer.Ordinal).ToArray();
        var rowElements = names.Select(n => RowElements(local[n])).ToArray();
        long perRow = rowElements.Sum();
        var counts = rowCounts.Select(c => checked((int)(c * perRow))).ToArray();

        using var scope = NewDisposeScope();
        var send = cat(names.Select(n => local[n].detach().to(ScalarType.Float32).cpu().reshape(-1)).ToArray()).contiguous();
        var receive = empty(counts.Sum(), dtype: ScalarType.Float32);
        group.AllGatherFloats(HostBuffer.Address(send), HostBuffer.Address(receive), counts);

        // Split rank blocks into per-name pieces, then join each name's pieces in rank order.
        var pieces = names.Select(_ => new List<Tensor>()).ToArray();
        long offset = 0;
        foreach (int rows in rowCounts)
            for (int k = 0; k < names.Length; k++)
            {
                long length = rows * rowElements[k];
                pieces[k].Add(receive.narrow(0, offset, length));
                offset += length;
            }
        var leaves = new Dictionary<string, Tensor>();
        for (int k = 0; k < names.Length; k++)
        {
            var template = local[names[k]];
            var shape = new[] { (long)rowCounts.Sum() }.Concat(template.shape.Skip(1)).ToArray();
            var joined = cat(pieces[k].ToArray()).reshape(shape).to(template.dtype, template.device).detach();
            if (withGradient.Contains(names[k])) joined.requires_grad_(true);
            leaves[names[k]] = joined.DetachFromDisposeScope();
        }
        return new FeatureExchange(group, names, rowElements, rowCounts, leaves);
    }

    /// <summary>Names of the features whose gradient flows back to the encoders.</summary>
    public IEnumerable<string> GradientNames => _names.Where(n => _leaves[n].requires_grad);

    /// <summary>
    /// Sums the gradients of the leaves over all ranks and returns this rank's rows of the sum, by name (same dtype
    /// and device as the local features), and whether any rank reported a failure (<paramref name="failed"/> on that rank).
    /// </summary>
    public (Dictionary<string, Tensor> Gradients, bool AnyFailed) ReduceGradients(bool failed)
    {
        var names = GradientNames.ToArray();
        var elements = names.Select(n => _rowElements[Array.IndexOf(_names, n)]).ToArray();
        long perRow = elements.Sum();
        // Each rank block ends with one failure flag; every rank sets its flag in every block, so each rank
        // receives the number of failed ranks.
        var counts = _rowCounts.Select(c => checked((int)(c * perRow + 1))).ToArray();
        using var scope = NewDisposeScope();
        var flag = full(1, failed ? 1f : 0f, dtype: ScalarType.Float32);
        var blocks = new List<Tensor>();
        long row = 0;
        foreach (int rows in _rowCounts)
        {
            foreach (var name in names)
            {
                var leaf = _leaves[name];
                var grad = failed || leaf.grad is null ? zeros(rows * RowElements(leaf), dtype: ScalarType.Float32)
                    : leaf.grad.narrow(0, row, rows).to(ScalarType.Float32).cpu().reshape(-1);
                blocks.Add(grad);
            }
            blocks.Add(flag);
            row += rows;
        }
        var send = cat(blocks.ToArray()).contiguous();
        var receive = empty(counts[_group.Rank], dtype: ScalarType.Float32);
        _group.ReduceScatterSumFloats(HostBuffer.Address(send), HostBuffer.Address(receive), counts);
        bool anyFailed = receive[counts[_group.Rank] - 1].item<float>() > 0;

        var result = new Dictionary<string, Tensor>();
        long offset = 0;
        for (int k = 0; k < names.Length; k++)
        {
            var leaf = _leaves[names[k]];
            long length = Count * elements[k];
            var shape = new[] { Count }.Concat(leaf.shape.Skip(1)).ToArray();
            result[names[k]] = receive.narrow(0, offset, length).reshape(shape).to(leaf.dtype, leaf.device).DetachFromDisposeScope();
            offset += length;
        }
        return (result, anyFailed);
    }

    private static long RowElements(Tensor t) => t.shape.Skip(1).Aggregate(1L, (a, b) => a * b);

    public void Dispose()
    {
        foreach (var leaf in _leaves.Values) leaf.Dispose();
    }
}
