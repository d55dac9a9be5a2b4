using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Linq;
using Microsoft.ML.Clip.Distributed;
using Microsoft.ML.Clip.Modeling;
using Microsoft.ML.Clip.Training.Objectives;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Microsoft.ML.Clip.Training.Distributed;

/// <summary>
/// The forward and backward pass of one data-parallel step, giving every rank the gradient of the global-batch
/// loss, summed over ranks:
/// <list type="number">
/// <item>each rank encodes its own samples (keeping the graph, or without gradient when micro-batching);</item>
/// <item>the features of all ranks are gathered (<see cref="FeatureExchange"/>);</item>
/// <item>each rank computes its share of the loss (<see cref="ClipObjective.LocalLoss"/>: its rows against all
///   columns) and back-propagates it to the gathered features and the model-level parameters;</item>
/// <item>the feature gradients are summed over ranks, each rank keeping its rows: now the gradient of the whole
///   loss with respect to its own features;</item>
/// <item>each rank back-propagates that through its encoders, text side first so the text gradients travel
///   while the image tower's backward runs (<see cref="GradientBuckets"/>);</item>
/// <item>the parameter gradients are summed over ranks.</item>
/// </list>
/// Since the shares add up to the loss, the sum is exactly the gradient one process would compute on the whole
/// batch. A rank that fails mid-step keeps taking part with a failure flag, so all ranks stop together.
/// </summary>
internal sealed class DataParallelStep : IDisposable
{
    private readonly ProcessGroup _group;
    private readonly ClipObjective _objective;
    private readonly GradientBuckets _buckets;
    private readonly Parameter[][] _phaseParameters;
    private readonly Stopwatch _exchange = new();

    /// <summary>Phase of a parameter: 0 for everything but the image tower (reduced first), 1 for the image tower.</summary>
    private static int PhaseOf(string name) => name.StartsWith(ClipModel.ImageTowerPrefix, StringComparison.Ordinal) ? 1 : 0;

    public DataParallelStep(ProcessGroup group, ClipObjective objective, IReadOnlyList<(string Name, Parameter Parameter)> gradientSources)
    {
        _group = group;
        _objective = objective;
        _buckets = new GradientBuckets(group, gradientSources, PhaseOf);
        _phaseParameters = _buckets.Phases.Select(phase =>
            gradientSources.Where(p => p.Parameter.requires_grad && PhaseOf(p.Name) == phase).Select(p => p.Parameter).ToArray()).ToArray();
    }

    /// <summary>Time spent waiting for collectives (gathering features, summing feature and parameter gradients), cumulative.</summary>
    public TimeSpan CommunicationWait => _exchange.Elapsed + _buckets.Waiting;

    /// <summary>
    /// Runs the step on this rank's <paramref name="batch"/>; <paramref name="agreement"/> gives every rank's sample
    /// count. Returns the global loss and the summed gradients (float32).
    /// </summary>
    public (double Loss, Dictionary<string, Tensor> Gradients) Run(ClipModel model, TrainingBatch batch, StepAgreement agreement, int? microBatchSize)
    {
        Exception? failure = null;
        bool micro = microBatchSize is int m && m < batch.Count;
        var slices = micro ? batch.MicroBatches(microBatchSize!.Value) : [(Start: 0, Length: batch.Count)];

        // 1. Local features: with their graph, or (micro-batching) detached, recomputed per micro-batch in step 5.
        ObjectiveFeatures? local = null;
        var withGradient = new HashSet<string>();
        try
        {
            if (micro)
            {
                var parts = new List<ObjectiveFeatures>();
                foreach (var (start, length) in slices)
                {
                    using var scope = NewDisposeScope();
                    using var fresh = _objective.Encode(model, batch.Slice(start, length));
                    withGradient.UnionWith(fresh.Names.Where(n => fresh[n].requires_grad));
                    parts.Add(fresh.Detach().MoveToOuterDisposeScope());
                }
                local = ObjectiveFeatures.Concat(parts);
                foreach (var p in parts) p.Dispose();
            }
            else
            {
                local = _objective.Encode(model, batch);
                withGradient.UnionWith(local.Names.Where(n => local[n].requires_grad));
            }
        }
        catch (Exception error) { failure = error; }
        ReportEncoding(failure);

        try
        {
            return GatherAndBackward(model, batch, agreement, local!, withGradient, micro, slices, failure);
        }
        finally
        {
            local?.Dispose();
        }
    }

    private (double Loss, Dictionary<string, Tensor> Gradients) GatherAndBackward(ClipModel model, TrainingBatch batch, StepAgreement agreement,
        ObjectiveFeatures local, HashSet<string> withGradient, bool micro, List<(int Start, int Length)> slices, Exception? failure)
    {
        // 2–4. Gather, local share of the loss, summed feature gradients.
        double localLoss = 0;
        Dictionary<string, Tensor> featureGradients;
        _exchange.Start();
        using (var exchange = FeatureExchange.Gather(_group, local, agreement.RowCounts, withGradient))
        {
            _exchange.Stop();
            try
            {
                using var scope = NewDisposeScope();
                var loss = _objective.LocalLoss(model, exchange.Global, exchange.Start, exchange.Count, trainModelLevelParameters: true);
                loss.backward();
                localLoss = loss.item<float>();
            }
            catch (Exception error) { failure = error; }
            _exchange.Start();
            (featureGradients, bool anyFailed) = exchange.ReduceGradients(failure is not null);
            _exchange.Stop();
            if (anyFailed)
            {
                foreach (var g in featureGradients.Values) g.Dispose();
                JobHealth.Raise(_group, failure);
            }
        }

        // 5–6. Local backward, phase by phase, each phase's gradients sent as soon as they are final.
        try
        {
            if (micro)
            {
                foreach (var (start, length) in slices)
                {
                    using var scope = NewDisposeScope();
                    using var fresh = _objective.Encode(model, batch.Slice(start, length));
                    Backward(fresh, featureGradients, start, length, inputs: null, retainGraph: false);
                }
            }
        }
        catch (Exception error) { failure = error; }
        for (int i = 0; i < _buckets.Phases.Length; i++)
        {
            bool last = i == _buckets.Phases.Length - 1;
            if (!micro && failure is null)
            {
                try
                {
                    using var scope = NewDisposeScope();
                    Backward(local, featureGradients, 0, batch.Count, _phaseParameters[i], retainGraph: !last);
                }
                catch (Exception error) { failure = error; }
            }
            _buckets.Start(_buckets.Phases[i], last ? localLoss : 0, last && failure is not null);
        }
        foreach (var g in featureGradients.Values) g.Dispose();
        var (gradients, globalLoss, failedAnywhere) = _buckets.Finish();
        if (failedAnywhere) JobHealth.Raise(_group, failure);
        return (globalLoss, gradients);
    }

    /// <summary>A rank whose encoding failed says so before the gather (which needs every rank's features).</summary>
    private void ReportEncoding(Exception? failure)
    {
        var flags = new int[_group.Size];
        _exchange.Start();
        _group.AllGather([failure is null ? 0 : 1], flags);
        _exchange.Stop();
        if (flags.Any(f => f != 0)) JobHealth.Raise(_group, failure);
    }

    /// <summary>Back-propagates <paramref name="gradients"/> (rows [start, start+length)) through <paramref name="features"/>.</summary>
    private static void Backward(ObjectiveFeatures features, Dictionary<string, Tensor> gradients, int start, int length, Parameter[]? inputs, bool retainGraph)
    {
        var names = gradients.Keys.Where(n => features[n].requires_grad).ToList();
        if (names.Count == 0 || inputs is { Length: 0 }) return;
        var outputs = names.Select(n => features[n]).ToList();
        var grads = names.Select(n => gradients[n].narrow(0, start, length)).ToList();
        autograd.backward(outputs, grads, retain_graph: retainGraph, create_graph: false, inputs: inputs?.Cast<Tensor>().ToList());
    }

    public void Dispose() => _buckets.Dispose();
}
