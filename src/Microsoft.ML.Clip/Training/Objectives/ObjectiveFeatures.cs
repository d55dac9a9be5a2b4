using System;
using System.Collections.Generic;
using System.Linq;
using static TorchSharp.torch;

namespace Microsoft.ML.Clip.Training.Objectives;

/// <summary>
/// What an objective computes per sample before the loss (for CLIP: normalized image and text features),
/// as named tensors whose first dimension is the sample. Keeping them separate from the loss lets the
/// training loop accumulate gradients over micro-batches while the loss still sees the whole batch's
/// negatives (features of the other micro-batches are cached without gradient).
/// </summary>
public sealed class ObjectiveFeatures : IDisposable
{
    private readonly Dictionary<string, Tensor> _tensors;

    /// <summary>Creates features from named per-sample tensors (all with the same first dimension).</summary>
    public ObjectiveFeatures(IReadOnlyDictionary<string, Tensor> tensors)
    {
        _tensors = new Dictionary<string, Tensor>(tensors);
        var sizes = _tensors.Values.Select(t => t.shape[0]).Distinct().ToList();
        if (sizes.Count > 1)
            throw new ArgumentException($"Objective features disagree on the batch size: {string.Join(", ", _tensors.Select(p => $"{p.Key}[{p.Value.shape[0]}]"))}.");
    }

    /// <summary>The tensor called <paramref name="name"/>.</summary>
    public Tensor this[string name] => _tensors.TryGetValue(name, out var t) ? t
        : throw new KeyNotFoundException($"The objective produced no feature '{name}' (has: {string.Join(", ", _tensors.Keys)}).");

    /// <summary>The names an objective can look up with the indexer (for example image and text features, token features).</summary>
    public IEnumerable<string> Names => _tensors.Keys;

    /// <summary>Samples held: the first dimension, which every tensor shares.</summary>
    public long Count => _tensors.Values.First().shape[0];

    /// <summary>A copy detached from the autograd graph (for caching).</summary>
    public ObjectiveFeatures Detach() => new(_tensors.ToDictionary(p => p.Key, p => p.Value.detach()));

    /// <summary>Moves the tensors out of the current dispose scope (see TorchSharp's <c>MoveToOuterDisposeScope</c>); returns this.</summary>
    public ObjectiveFeatures MoveToOuterDisposeScope()
    {
        foreach (var t in _tensors.Values) t.MoveToOuterDisposeScope();
        return this;
    }

    /// <summary>Concatenates per-micro-batch features along the sample dimension.</summary>
    public static ObjectiveFeatures Concat(IReadOnlyList<ObjectiveFeatures> parts) =>
        new(parts[0].Names.ToDictionary(name => name, name => cat(parts.Select(p => p[name]).ToArray(), 0)));

    /// <inheritdoc/>
    public void Dispose()
    {
        foreach (var t in _tensors.Values) t.Dispose();
    }
}
