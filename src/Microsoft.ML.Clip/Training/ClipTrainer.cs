using System;
using System.Collections.Generic;
using System.Linq;
using Microsoft.ML.Clip.Distributed;
using Microsoft.ML.Clip.Modeling;
using Microsoft.ML.Clip.Torch;
using Microsoft.ML.Clip.Training.Distributed;
using Microsoft.ML.Clip.Training.Locking;
using Microsoft.ML.Clip.Training.Objectives;
using Microsoft.ML.Clip.Training.Precision;
using Microsoft.ML.Clip.Training.Steps;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Microsoft.ML.Clip.Training;

/// <summary>The figures of one optimizer step.</summary>
/// <param name="Step">1-based optimizer step.</param>
/// <param name="Loss">Loss of the whole batch.</param>
/// <param name="GradientNorm">Global gradient L2 norm before clipping.</param>
/// <param name="LearningRate">Learning rate applied.</param>
/// <param name="Temperature">exp(logit_scale) after the step.</param>
/// <param name="Skipped">True when the step was skipped because of a non-finite loss or gradient.</param>
public sealed record TrainingStepResult(long Step, double Loss, double GradientNorm, double LearningRate, double Temperature, bool Skipped);

/// <summary>A training step produced a NaN or infinite loss or gradient.</summary>
public sealed class NonFiniteTrainingException(string message) : ArithmeticException(message);

/// <summary>
/// One CLIP-family training run on TorchSharp tensors: AdamW with the weight-decay exclusions, warmup +
/// cosine schedule, gradient clipping, temperature clamping, gradient accumulation that keeps whole-batch
/// negatives, and fp32 or bf16-mixed arithmetic. The objective decides the encoding and the loss.
/// </summary>
/// <remarks>
/// A step is composed of three parts: the precision (<see cref="StepPrecision"/>: the model the passes run on and the
/// gradients the optimizer reads), the step strategy (<see cref="IStepStrategy"/>: this process alone, or data-parallel,
/// both micro-batching through <see cref="MicroBatches"/>), and what this class does around them: skipping non-finite
/// steps, clipping, the optimizer update and the temperature clamp.
/// </remarks>
internal sealed class ClipTrainer : IDisposable
{
    private readonly ClipModel _master;
    private readonly ClipObjective _objective;
    private readonly ClipTrainerOptions _options;
    private readonly AdamW _optimizer;
    private readonly StepPrecision _precision;
    private readonly IStepStrategy _strategy;
    private readonly List<Parameter> _lockedHere;   // what the options' tower locks locked, released on Dispose
    private readonly FrozenParts _frozen;
    private readonly LockedTowerFeatures? _lockedFeatures;

    /// <summary>Prepares training of <paramref name="model"/> (float32 weights; it is updated in place).</summary>
    /// <param name="model">The model, float32.</param>
    /// <param name="objective">What is minimised.</param>
    /// <param name="options">Optimization settings.</param>
    /// <param name="totalSteps">Optimizer steps planned for the run (for the cosine schedule).</param>
    /// <param name="processGroup">
    /// For data-parallel training: the job's processes, each calling <see cref="Step(TrainingBatch)"/> with its own share of every
    /// global batch. The loss is then the global batch's, and gradients are summed over the processes, so every
    /// process takes the same update. The model must start identical on every process (see <see cref="TrainingStateSync"/>).
    /// Null: this process alone.
    /// </param>
    public ClipTrainer(ClipModel model, ClipObjective objective, ClipTrainerOptions options, long totalSteps, ProcessGroup? processGroup = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(objective);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        if (model.DType != ScalarType.Float32)
            throw new ArgumentException($"Training keeps float32 master weights; the model is {model.DType}. Use TrainingPrecision.BFloat16Mixed for bf16 arithmetic.", nameof(model));
        _master = model;
        _objective = objective;
        _options = options;
        Schedule = new LearningRateSchedule(options.LearningRate, Math.Min(options.WarmupSteps, Math.Max(1, totalSteps)), Math.Max(1, totalSteps));

        // Locks first: the objective's copies (momentum encoders, teachers) and the optimizer see what is locked.
        _lockedHere = TowerLocking.Apply(model, options.ImageTowerLock, options.TextTowerLock);
        _frozen = FrozenParts.Of(model);
        objective.Initialize(model, model.Device);
        var named = model.named_parameters().Select(p => (p.name, p.parameter))
            .Concat(objective.ExtraParameters().Select(p => ($"objective.{p.Name}", p.Parameter)));
        var groups = ParameterGroups.WithWeightDecay(named, options.WeightDecay);
        _optimizer = objective.CreateOptimizer(groups, options) ?? new AdamW(groups, options.Beta1, options.Beta2, options.Epsilon);

        _precision = StepPrecision.Create(options.Precision, model, _optimizer.Parameters);
        _precision.Working.CheckpointActivations(
            options.ActivationCheckpointing.HasFlag(CheckpointedTowers.Image), options.ActivationCheckpointing.HasFlag(CheckpointedTowers.Text));
        _lockedFeatures = _frozen.Any ? LockedTowerFeatures.Create(model, _frozen, options.CacheLockedTowerFeatures) : null;
        _strategy = processGroup is { Size: > 1 }
            ? new DataParallelStep(processGroup, objective, _precision.GradientSources, options.MicroBatchSize)
            : new LocalStep(objective, _precision, options.MicroBatchSize);
    }

    /// <summary>Time this process has spent waiting for other processes' data in <see cref="Step(TrainingBatch)"/> (data-parallel training).</summary>
    public TimeSpan CommunicationWait => _strategy.CommunicationWait;

    /// <summary>The learning-rate schedule of the run.</summary>
    public LearningRateSchedule Schedule { get; }

    /// <summary>The optimizer (its state goes into checkpoints).</summary>
    public AdamW Optimizer => _optimizer;

    /// <summary>Optimizer steps taken.</summary>
    public long StepCount => _optimizer.StepCount;

    /// <summary>Parameters the optimizer updates (those not locked), in elements.</summary>
    public long TrainableParameterCount => _optimizer.Parameters.Sum(p => p.Parameter.numel());

    /// <summary>The features of fully locked towers (cache counts), or null when no tower is fully locked.</summary>
    internal LockedTowerFeatures? LockedFeatures => _lockedFeatures;

    /// <summary>
    /// Performs one optimizer step on <paramref name="batch"/> (on the model's device). In data-parallel training the
    /// batch is this process's share of the global batch, and the processes agree on their shares first.
    /// </summary>
    public TrainingStepResult Step(TrainingBatch batch) => Step(batch, null);

    /// <summary>
    /// <see cref="Step(TrainingBatch)"/> with the shares of all processes already agreed (<paramref name="agreement"/>,
    /// from <see cref="JobHealth.Agree"/>); when null, the processes agree here.
    /// </summary>
    internal TrainingStepResult Step(TrainingBatch batch, StepAgreement? agreement)
    {
        ArgumentNullException.ThrowIfNull(batch);
        var model = PrepareStep(batch);
        try { return StepCore(model, batch, agreement); }
        finally { EndStep(batch); }
    }

    private TrainingStepResult StepCore(ClipModel model, TrainingBatch batch, StepAgreement? agreement)
    {
        // Every tensor wrapper made during the step (gradients fetched with .grad included) belongs to this
        // scope, which keeps it reachable until the step ends: see ScalarSafe for why that matters.
        using (var scope = NewDisposeScope())
        {
            _precision.ZeroGradients();
            var (loss, norm, gradients) = _strategy.Run(model, batch, agreement);
            double lr = Schedule.At(_optimizer.StepCount);
            if (!double.IsFinite(loss) || !double.IsFinite(norm))
            {
                string what = double.IsFinite(loss) ? $"gradient norm {norm}" : $"loss {loss}";
                if (!_options.SkipNonFiniteSteps)
                    throw new NonFiniteTrainingException($"Training step {_optimizer.StepCount + 1} produced a non-finite {what}; the weights were not updated. " +
                        "Lower the learning rate, enable gradient clipping, check the inputs, or set SkipNonFiniteSteps to skip such steps.");
                return new TrainingStepResult(_optimizer.StepCount, loss, norm, lr, Temperature(), Skipped: true);
            }
            if (_options.GradientClipNorm is double max && norm > max)
            {
                double factor = max / (norm + 1e-6);
                foreach (var g in gradients.Values) ScalarSafe.MulInPlace(g, factor);
            }
            _optimizer.Step(lr, gradients);
            using (no_grad())
                ScalarSafe.ClampInPlace(_master.LogitScale, 0, _options.MaxLogitScale);
            _precision.AfterUpdate();
            _objective.AfterStep(model, null);
            // The second and last read: the temperature after the update, for the log.
            return new TrainingStepResult(_optimizer.StepCount, loss, norm, lr, Temperature(), Skipped: false);
        }
    }

    /// <summary>The batch loss and its gradients (fp32 copies) without updating anything: for tests and diagnostics.</summary>
    internal (double Loss, Dictionary<string, Tensor> Gradients) LossAndGradients(TrainingBatch batch)
    {
        var model = PrepareStep(batch);
        try
        {
            using var scope = NewDisposeScope();
            _precision.ZeroGradients();
            var result = _strategy.Run(model, batch, null);
            var gradients = result.Gradients.ToDictionary(p => p.Key, p => p.Value.to(ScalarType.Float32).clone().DetachFromDisposeScope());
            _precision.ZeroGradients();
            return (result.Loss, gradients);
        }
        finally { EndStep(batch); }
    }

    /// <summary>
    /// The model a step computes with, in training mode but for its locked modules (eval mode: BatchNorm statistics
    /// unchanged); the batch gets the locked towers' features.
    /// </summary>
    private ClipModel PrepareStep(TrainingBatch batch)
    {
        var model = _precision.Working;
        model.train();
        _frozen.SetEvalModes(model);
        _lockedFeatures?.ForgetStep();
        batch.Locked = _lockedFeatures;
        return model;
    }

    /// <summary>Frees the step's locked-tower features and detaches them from the caller's batch.</summary>
    private void EndStep(TrainingBatch batch)
    {
        batch.Locked = null;
        _lockedFeatures?.ForgetStep();
    }

    /// <summary>
    /// Call after the master weights were changed outside the trainer (a checkpoint restored, weights received from
    /// another process): refreshes the bf16 working copy of mixed-precision training.
    /// </summary>
    public void MasterWeightsChanged() => _precision.MasterWeightsChanged();

    private double Temperature()
    {
        using var noGrad = no_grad();
        using var t = _master.LogitScale.exp();
        return HostTransfer.Read(t)[0];
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        _strategy.Dispose();
        _precision.Dispose();
        _lockedFeatures?.Dispose();
        foreach (var p in _lockedHere) p.requires_grad = true;
        _lockedHere.Clear();
    }
}
