using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Linq;
using Microsoft.ML.Clip.Distributed;
using Microsoft.ML.Clip.Modeling;
using Microsoft.ML.Clip.Torch;
using Microsoft.ML.Clip.Training.Objectives;
using Microsoft.ML.Clip.Training.Steps;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Microsoft.ML.Clip.Training.Distributed;

/// <summary>
/// The forward and backward pass of one data-parallel step, giving every rank the gradient of the global-batch
/// loss, summed over ranks:
/// <list type="number">
/// <item>each rank encodes its own samples (keeping the graph, or in micro-batches without it: <see cref="MicroBatches"/>);</item>
/// <item>the features of all ranks are gathered (<see cref="FeatureExchange"/>);</item>
/// <item>each rank computes its share of the loss (<see cref="ClipObjective.LocalLoss"/>: its rows against all
///   columns) and back-propagates it to the gathered features and the model-level parameters;</item>
/// <item>the feature gradients are summed over ranks, each rank keeping its rows: now the gradient of the whole
///   loss with respect to its own features;</item>
/// <item>each rank back-propagates that through its encoders (micro-batch by micro-batch when micro-batching), text side
///   first so the text gradients travel while the image tower's backward runs (<see cref="GradientBuckets"/>);</item>
/// <item>the parameter gradients are summed over ranks.</item>
/// </list>
/// Since the shares add up to the loss, the sum is exactly the gradient one process would compute on the whole
/// batch. A rank that fails mid-step keeps taking part with a failure flag, so all ranks stop together.
/// </summary>
internal sealed class DataParallelStep : IStepStrategy
{
    private readonly ProcessGroup _group;
    private readonly ClipObjective _objective;
    private readonly int? _microBatchSize;
    private readonly GradientBuckets _buckets;
    private readonly Parameter[][] _phaseParameters;
    private readonly Stopwatch _exchange = new();

    /// <summary>Phase of a parameter: 0 for everything but the image tower (reduced first), 1 for the image tower.</summary>
    private static int PhaseOf(string name) => ClipTowers.TowerOf(name) == ClipTower.Image ? 1 : 0;

    public DataParallelStep(ProcessGroup group, ClipObjective objective, IReadOnlyList<(string Name, Parameter Parameter)> gradientSources, int? microBatchSize)
    {
        _group = group;
        _objective = objective;
        _microBatchSize = microBatchSize;
        _buckets = new GradientBuckets(group, gradientSources, PhaseOf);
        _phaseParameters = _buckets.Phases.Select(phase =>
            gradientSources.Where(p => p.Parameter.requires_grad && PhaseOf(p.Name) == phase).Select(p => p.Parameter).ToArray()).ToArray();
    }

    /// <summary>Time spent waiting for collectives (gathering features, summing feature and parameter gradients), cumulative.</summary>
    public TimeSpan CommunicationWait => _exchange.Elapsed + _buckets.Waiting;

    /// <summary>
    /// Runs the step on this rank's <paramref name="batch"/>; <paramref name="agreement"/> gives every rank's sample count
    /// (null: the ranks agree first). Returns the global loss and the summed gradients (float32).
    /// </summary>
    public StepGradients Run(ClipModel model, TrainingBatch batch, StepAgreement? agreement)
    {
        agreement ??= JobHealth.Agree(_group, batch.Count, null, cancelled: false);
        var step = new Pass(batch, batch.MicroBatches(_microBatchSize ?? batch.Count));

        // 1. Local features: with their graph, or (micro-batching) as leaves, recomputed per micro-batch in step 5.
        try
        {
            step.Local = step.Micro
                ? MicroBatches.EncodeAsLeaves(_objective, model, batch, step.Slices, step.WithGradient)
                : _objective.Encode(model, batch);
            if (!step.Micro) step.WithGradient.UnionWith(step.Local.Names.Where(n => step.Local[n].requires_grad));
        }
        catch (Exception error) { step.Failure = error; }
        ReportEncoding(step.Failure);

        try
        {
            var featureGradients = GatherLossAndFeatureGradients(model, agreement, step);
            var (gradients, loss) = BackwardAndReduce(model, step, featureGradients);
            var norm = Math.Sqrt(HostTransfer.Read(StepGradients.SquaredNorm(gradients.Values, model.Device))[0]);
            return new StepGradients(loss, norm, gradients);
        }
        finally
        {
            step.Local?.Dispose();
        }
    }

    /// <summary>What one step carries between its stages.</summary>
    private sealed class Pass(TrainingBatch batch, List<(int Start, int Length)> slices)
    {
        public TrainingBatch Batch { get; } = batch;
        public List<(int Start, int Length)> Slices { get; } = slices;
        public bool Micro => Slices.Count > 1;
        public HashSet<string> WithGradient { get; } = [];
        public ObjectiveFeatures? Local { get; set; }
        public Exception? Failure { get; set; }
        public double LocalLoss { get; set; }
    }

    /// <summary>
    /// 2–4: gathers every rank's features, back-propagates this rank's share of the loss to them, and returns the
    /// gradients of the whole loss with respect to this rank's features (summed over ranks). Throws on every rank when any failed.
    /// </summary>
    private Dictionary<string, Tensor> GatherLossAndFeatureGradients(ClipModel model, StepAgreement agreement, Pass step)
    {
        _exchange.Start();
        using var exchange = FeatureExchange.Gather(_group, step.Local!, agreement.RowCounts, step.WithGradient);
        _exchange.Stop();
        try
        {
            using var scope = NewDisposeScope();
            var loss = _objective.LocalLoss(model, exchange.Global, exchange.Start, exchange.Count, trainModelLevelParameters: true);
            loss.backward();
            step.LocalLoss = loss.item<float>();
        }
        catch (Exception error) { step.Failure = error; }
        _exchange.Start();
        var (featureGradients, anyFailed) = exchange.ReduceGradients(step.Failure is not null);
        _exchange.Stop();
        if (anyFailed)
        {
            foreach (var g in featureGradients.Values) g.Dispose();
            JobHealth.Raise(_group, step.Failure);
        }
        return featureGradients;
    }

    /// <summary>
    /// 5–6: back-propagates <paramref name="featureGradients"/> through this rank's encoders, phase by phase, each phase's
    /// gradients sent as soon as they are final; returns the summed gradients and the global loss.
    /// </summary>
    private (Dictionary<string, Tensor> Gradients, double Loss) BackwardAndReduce(ClipModel model, Pass step, Dictionary<string, Tensor> featureGradients)
    {
        try
        {
            if (step.Micro)
                MicroBatches.BackwardThroughEncoders(_objective, model, step.Batch, step.Slices, featureGradients);
        }
        catch (Exception error) { step.Failure = error; }
        for (int i = 0; i < _buckets.Phases.Length; i++)
        {
            bool last = i == _buckets.Phases.Length - 1;
            if (!step.Micro && step.Failure is null)
            {
                try
                {
                    using var scope = NewDisposeScope();
                    MicroBatches.Backward(step.Local!, featureGradients, 0, step.Batch.Count, _phaseParameters[i], retainGraph: !last);
                }
                catch (Exception error) { step.Failure = error; }
            }
            _buckets.Start(_buckets.Phases[i], last ? step.LocalLoss : 0, last && step.Failure is not null);
        }
        foreach (var g in featureGradients.Values) g.Dispose();
        var (gradients, globalLoss, failedAnywhere) = _buckets.Finish();
        if (failedAnywhere) JobHealth.Raise(_group, step.Failure);
        return (gradients, globalLoss);
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

    public void Dispose() => _buckets.Dispose();
}
