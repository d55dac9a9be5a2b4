using System;
using System.Diagnostics;
using System.Globalization;
using System.Linq;
using Microsoft.ML.Clip.Diagnostics;
using Microsoft.ML.Clip.Distributed;
using Microsoft.ML.Clip.Modeling;
using Microsoft.ML.Clip.Training.Distributed;
using Microsoft.ML.Clip.Training.Objectives;

namespace Microsoft.ML.Clip.Training;

/// <summary>
/// One training run of a model with an objective over an <see cref="ITrainingBatchSource"/>: epochs of whole global
/// batches, checkpoints and resuming (also mid-epoch, also with another number of processes), agreement between the
/// processes of a data-parallel job at every step (row counts, read failures, cancellation), skipped steps and rows,
/// and validation and progress through <see cref="TrainingRunHooks"/>. <c>ClipPretrain</c> is this run fed from an
/// IDataView; use it directly to train on batches from elsewhere. A run is used once.
/// </summary>
/// <example>
/// <code>
/// // Batches from anywhere: the function returns this process's rows of global batch i of an epoch, null at its end.
/// var source = new FunctionBatchSource(rowCount: pixels.shape[0], (epoch, i) =>
///     i * 256 &lt; pixels.shape[0] ? SourceBatch.FromTensors(pixels.narrow(0, i * 256, 256), tokens.narrow(0, i * 256, 256)) : null);
/// var objective = new SigLipObjective();
/// using var model = new ClipModel(objective.PrepareArchitecture(ClipPresets.Small));   // SigLIP adds its logit bias
/// var run = new TrainingRun(model, objective, new TrainingRunOptions { Epochs = 5, BatchSize = 256, CheckpointDirectory = "ckpt" });
/// ClipTrainingReport report = run.Run(source);
/// </code>
/// </example>
public sealed class TrainingRun
{
    private readonly ClipModel _model;
    private readonly ClipObjective _objective;
    private readonly TrainingRunOptions _options;
    private readonly ProcessGroup? _group;
    private readonly TrainingRunHooks _hooks;
    private readonly Stopwatch _clock = new();
    private ClipTrainingReport _report = null!; // set by Run
    private ClipTrainer? _trainer;
    private TrainingCheckpoints? _checkpoints;
    private BestWeights? _best;
    private long _batchesPerEpoch;

    /// <summary>Prepares a run; nothing is read or trained until <see cref="Run"/>.</summary>
    /// <param name="model">The float32 model to train (in place).</param>
    /// <param name="objective">What is minimised.</param>
    /// <param name="options">Length, batches, checkpoints (copied and validated here).</param>
    /// <param name="processGroup">The processes training together (data-parallel), or null for this one alone.</param>
    /// <param name="hooks">Logging, progress, validation and cancellation; null: none.</param>
    public TrainingRun(ClipModel model, ClipObjective objective, TrainingRunOptions options, ProcessGroup? processGroup = null, TrainingRunHooks? hooks = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(objective);
        ArgumentNullException.ThrowIfNull(options);
        _options = options.Copy(); // later changes to the caller's object do not reach a run in progress
        _options.Validate();
        _model = model;
        _objective = objective;
        _group = processGroup;
        _hooks = hooks ?? new TrainingRunHooks();
        LocalBatchSize = LocalShare(_options.BatchSize, ProcessCount);
    }

    /// <summary>Whether this process logs, validates and writes checkpoints (rank 0, or the only process).</summary>
    public bool IsMain => _group?.IsMain ?? true;

    /// <summary>Processes in the run.</summary>
    public int ProcessCount => _group?.Size ?? 1;

    /// <summary>Rows of each global batch this process reads: <c>BatchSize / ProcessCount</c>.</summary>
    public int LocalBatchSize { get; }

    /// <summary>Optimizer steps taken so far (including those of a resumed checkpoint).</summary>
    public long Step => _trainer?.StepCount ?? 0;

    /// <summary>Optimizer steps planned; 0 before <see cref="Run"/> counted the source's rows.</summary>
    public long TotalSteps { get; private set; }

    /// <summary>Loss of the last trained step (NaN before the first).</summary>
    public double LastLoss { get; private set; } = double.NaN;

    /// <summary>
    /// Trains for the configured epochs over <paramref name="source"/> and returns the run's figures. Throws
    /// <see cref="OperationCanceledException"/> (after writing a checkpoint) when cancelled, and in a data-parallel
    /// job stops every process at the same step when one fails.
    /// </summary>
    public ClipTrainingReport Run(ITrainingBatchSource source) => Run(source, new ClipTrainingReport());

    /// <summary><see cref="Run(ITrainingBatchSource)"/>, recording into <paramref name="report"/> (a host's report that extends the run's).</summary>
    internal T Run<T>(ITrainingBatchSource source, T report) where T : ClipTrainingReport
    {
        ArgumentNullException.ThrowIfNull(source);
        if (_trainer is not null) throw new InvalidOperationException("A TrainingRun is used once; create another.");
        _report = report;
        _report.Processes = ProcessCount;
        _report.IsMainProcess = IsMain;
        _clock.Start();
        long rows = source.RowCount;
        _batchesPerEpoch = rows / _options.BatchSize;
        if (_batchesPerEpoch == 0)
            throw new InvalidOperationException($"{_options.Name} needs at least BatchSize = {_options.BatchSize} training rows; the training data has {rows}.");
        TotalSteps = _batchesPerEpoch * _options.Epochs;
        Info($"{_options.Name}: objective {_objective.Name}, {rows:N0} training rows, batch {_options.BatchSize}" +
             (ProcessCount > 1 ? $" ({ProcessCount} processes × {LocalBatchSize})" : "") + $", {_options.Epochs} epochs = {TotalSteps:N0} steps, " +
             $"{_model.parameters().Sum(p => p.numel()) / 1e6:F1} M parameters, {_options.Trainer.Precision}, device {_model.Device}.");
        WarnIfBFloat16IsEmulated();
        using (_trainer = new ClipTrainer(_model, _objective, _options.Trainer, TotalSteps, _group))
        using (_best = _options.KeepBestByZeroShot ? new BestWeights(IsMain ? _options.CheckpointDirectory : null) : null)
        {
            long trainable = _trainer.TrainableParameterCount, all = _model.parameters().Sum(p => p.numel()) + _objective.ExtraParameters().Sum(p => p.Parameter.numel());
            if (trainable < all)
                Info($"Locked: {(all - trainable) / 1e6:F2} M parameters; {trainable / 1e6:F2} M trained.");
            var start = Restore();
            for (int epoch = start.Epoch; epoch < _options.Epochs; epoch++)
            {
                using (var reader = source.OpenEpoch(epoch))
                    RunEpoch(reader, epoch, epoch == start.Epoch ? start.BatchesDoneInEpoch : 0, rows);
                if (_group is { } job)
                    TrainingStateSync.VerifyIdentical(job, _model);
                SaveCheckpoint(epoch + 1, 0);
                if (IsMain)
                {
                    Validate(epoch);
                    WatchZeroShot(epoch);
                }
            }
            if (_best is not null) RestoreBest();
            _report.Steps = _trainer.StepCount;
        }
        _report.SkippedRows = source.SkippedRows;
        if (_report.SkippedRows > 0)
            _hooks.Warning?.Invoke($"{_options.Name} skipped {_report.SkippedRows:N0} bad rows (SkipBadRows).");
        _report.Seconds = _clock.Elapsed.TotalSeconds;
        return report;
    }

    /// <summary>
    /// Restores the main process's newest checkpoint (when resuming) and gives every process the main process's
    /// weights, optimizer and objective state and position; returns where training continues.
    /// </summary>
    private TrainingPosition Restore()
    {
        // Only the main process touches the checkpoint folder; the others receive its state below.
        if (_options.CheckpointDirectory is { } folder && IsMain)
            _checkpoints = new TrainingCheckpoints(folder, _options.KeepCheckpoints);
        var position = new TrainingPosition(0, 0, 0);
        if (_checkpoints is not null && _options.Resume && _checkpoints.TryRestoreLatest(_model, _trainer!.Optimizer, _hooks.Warning) is { } restored)
        {
            position = restored.Position;
            _objective.LoadStateDict(restored.ObjectiveState);
            Info($"Resumed from step {position.Step} (epoch {position.Epoch + 1}, batch {position.BatchesDoneInEpoch}) in '{_checkpoints.DirectoryPath}'.");
        }
        if (_group is { } group)
        {
            // Fresh or resumed, whatever the number of processes the checkpoint was written with.
            var (synced, objectiveState) = TrainingStateSync.Broadcast(group, _model, _trainer!.Optimizer, _objective.StateDict(), position);
            if (!IsMain)
            {
                position = synced;
                _objective.LoadStateDict(objectiveState);
            }
        }
        _trainer!.MasterWeightsChanged();
        return position;
    }

    /// <summary>One epoch: reads, agrees, skips what a resumed run already trained on, trains, logs and checkpoints.</summary>
    private void RunEpoch(ITrainingBatchReader reader, int epoch, long skip, long rows)
    {
        long done = 0;
        while (done < _batchesPerEpoch)
        {
            // A process that fails to read its rows, or is cancelled, tells the others at the agreement below, so
            // every process stops at the same step.
            SourceBatch? batch = null;
            Exception? readFailure = null;
            try { batch = reader.Next(); }
            catch (Exception error) when (_group is not null && error is not OperationCanceledException) { readFailure = error; }
            if (_group is null)
            {
                if (batch is null) break;
                if (batch.Count < 2) continue; // a batch whose rows were all dropped as bad
                if (batch.Count < LocalBatchSize && !_options.SkipBadRows) break; // the incomplete last batch (drop_last)
            }
            else if (batch is null && readFailure is null)
            {
                readFailure = new InvalidOperationException(
                    $"The training data ended after {done} of the {_batchesPerEpoch} batches of epoch {epoch + 1} expected from its {rows} rows; did it change during training?");
            }
            var cancellation = Cancellation();
            var agreement = _group is null ? null : JobHealth.Agree(_group, batch?.Count ?? 0, readFailure, cancellation is not null);
            if (done < skip) { done++; continue; } // a resumed run: trained on before the checkpoint
            if (cancellation is not null || agreement?.Cancelled == true)
            {
                SaveCheckpoint(epoch, done);
                throw cancellation ?? new OperationCanceledException($"{_options.Name} was cancelled on another process of the job.");
            }
            done++;
            if (agreement is not null && (agreement.TotalRows < 2 || Array.IndexOf(agreement.RowCounts, 0) >= 0))
            {
                Warn($"Step {Step + 1}: a process has no readable rows in this batch (SkipBadRows); the batch is skipped on every process.");
                continue;
            }
            if (Train(batch!, agreement, epoch, done) && _options.CheckpointEverySteps > 0 && Step % _options.CheckpointEverySteps == 0 && done < _batchesPerEpoch)
                SaveCheckpoint(epoch, done);
        }
    }

    /// <summary>One optimizer step on <paramref name="batch"/>; false when it was skipped for non-finite values.</summary>
    private bool Train(SourceBatch batch, StepAgreement? agreement, int epoch, long done)
    {
        TrainingStepResult result;
        using (var onDevice = batch.ToTensors(_model.Device))
            result = _trainer!.Step(onDevice, agreement);
        _hooks.StepCompleted?.Invoke(result);
        long step = Step;
        if (result.Skipped)
        {
            _report.SkippedSteps++;
            Warn($"Step {step + 1}: non-finite loss or gradient; step skipped.");
            return false;
        }
        LastLoss = result.Loss;
        _report.Losses.Add((step, result.Loss));
        if (step % Math.Max(1, _options.LogEverySteps) == 0 || done == _batchesPerEpoch)
            Info(string.Format(CultureInfo.InvariantCulture, "epoch {0}/{1} step {2}/{3} loss {4:F4} lr {5:E2} temperature {6:F1} grad-norm {7:F3}",
                epoch + 1, _options.Epochs, step, TotalSteps, result.Loss, result.LearningRate, result.Temperature, result.GradientNorm));
        if (IsMain)
            _hooks.Progress?.Report(new ClipTrainingProgress(epoch + 1, _options.Epochs, step, TotalSteps, result.Loss, result.LearningRate, null, _clock.Elapsed));
        if (IsMain && _options.ZeroShotEverySteps > 0 && step % _options.ZeroShotEverySteps == 0 && done < _batchesPerEpoch)
            WatchZeroShot(epoch); // the epoch's end evaluates anyway
        return true;
    }

    /// <summary>The validation hook's retrieval after epoch <paramref name="epoch"/>, logged, reported and recorded.</summary>
    private void Validate(int epoch)
    {
        if (_hooks.Validate is not { } validate) return;
        _model.eval(); // the next step sets training mode again
        var metrics = validate();
        long step = Step;
        _report.Validation.Add((epoch + 1, step, metrics.ImageToText.RecallAt1, metrics.TextToImage.RecallAt1,
            (metrics.ImageToText.RecallAt5 + metrics.TextToImage.RecallAt5) / 2));
        Info($"epoch {epoch + 1} validation ({metrics.Count} pairs): {metrics}");
        _hooks.Progress?.Report(new ClipTrainingProgress(epoch + 1, _options.Epochs, step, TotalSteps, double.NaN, 0,
            (metrics.ImageToText.RecallAt1 + metrics.TextToImage.RecallAt1) / 2, _clock.Elapsed));
    }

    /// <summary>
    /// The zero-shot hook's accuracy of every watched set in epoch <paramref name="epoch"/>: logged, reported, recorded,
    /// and offered to the best-weights keeper.
    /// </summary>
    private void WatchZeroShot(int epoch)
    {
        if (_hooks.EvaluateZeroShot is not { } evaluate) return;
        _model.eval();
        var scores = evaluate();
        if (scores.Count == 0) return;
        long step = Step;
        foreach (var (set, accuracy) in scores) _report.ZeroShot.Add((epoch + 1, step, set, accuracy));
        double mean = scores.Average(s => s.Accuracy);
        bool best = _best?.Offer(_model, step, mean) == true;
        Info(string.Format(CultureInfo.InvariantCulture, "epoch {0} step {1} zero-shot accuracy: {2}{3}", epoch + 1, step,
            string.Join(", ", scores.Select(s => string.Format(CultureInfo.InvariantCulture, "{0} {1:P2}", s.Set, s.Accuracy))),
            best ? $" (best mean so far, {mean:P2}: weights kept)" : ""));
        _hooks.Progress?.Report(new ClipTrainingProgress(epoch + 1, _options.Epochs, step, TotalSteps, double.NaN, 0, null, _clock.Elapsed)
        {
            ZeroShotAccuracy = scores.ToDictionary(s => s.Set, s => s.Accuracy),
        });
    }

    /// <summary>
    /// Ends the run on the best zero-shot weights: the main process loads them, and in a data-parallel job sends its
    /// state to the others, so every process returns the same model.
    /// </summary>
    private void RestoreBest()
    {
        if (IsMain && _best!.Restore(_model))
        {
            _report.BestZeroShot = (_best.Step!.Value, _best.Score);
            Info(string.Format(CultureInfo.InvariantCulture, "Ending on the weights of step {0} (best mean zero-shot accuracy {1:P2}).", _best.Step, _best.Score));
        }
        if (_group is { } group)
            TrainingStateSync.Broadcast(group, _model, _trainer!.Optimizer, _objective.StateDict(), new TrainingPosition(_options.Epochs, 0, Step));
        _trainer!.MasterWeightsChanged();
    }

    private void SaveCheckpoint(int epoch, long batchesDone)
    {
        if (_checkpoints is null) return;
        string path = _checkpoints.Save(_model, _trainer!.Optimizer, _objective.StateDict(), new TrainingPosition(epoch, batchesDone, Step));
        Info($"Checkpoint written: {path}");
    }

    /// <summary>The cancellation asked for by the hook or the token, as the exception to throw; null when none.</summary>
    private OperationCanceledException? Cancellation()
    {
        try
        {
            _hooks.CheckAlive?.Invoke();
            _options.CancellationToken.ThrowIfCancellationRequested();
            return null;
        }
        catch (OperationCanceledException cancelled) { return cancelled; }
    }

    private void Info(string message)
    {
        if (IsMain) _hooks.Info?.Invoke(message);
    }

    /// <summary>
    /// bf16 mixed precision on a CPU without bf16 instructions is a trap: libtorch 2.10 then computes bf16 matrix
    /// products in its single-threaded reference loop (measured at 4 % of fp32's rate on a 512² product on an AVX2-only
    /// Zen 3), so training is many times slower than in fp32. Said once, at the start.
    /// </summary>
    private void WarnIfBFloat16IsEmulated()
    {
        if (_options.Trainer.Precision != TrainingPrecision.BFloat16Mixed || _model.Device.type != TorchSharp.DeviceType.CPU) return;
        var cpu = CpuInfo.Detect();
        if (cpu.HasFastBFloat16) return;
        Warn($"{_options.Name}: bf16 mixed precision on a CPU without bf16 instructions ({cpu.Model}: no AVX-512 BF16, AMX or Arm BF16). " +
             "libtorch runs bf16 matrix products there in a single-threaded reference loop, far slower than fp32: " +
             "set Precision = TrainingPrecision.Float32 on this machine.");
    }

    private void Warn(string message)
    {
        if (IsMain) _hooks.Warning?.Invoke(message);
    }

    /// <summary>Each of <paramref name="processes"/> processes' share of a global batch of <paramref name="batchSize"/>; throws unless it splits evenly.</summary>
    public static int LocalShare(int batchSize, int processes)
    {
        if (batchSize % processes != 0)
            throw new ArgumentException($"BatchSize = {batchSize} is the global batch of all {processes} processes and must be a multiple of their number " +
                                        $"(each reads an equal share); use {batchSize / processes * processes} or {(batchSize / processes + 1) * processes}.");
        return batchSize / processes;
    }
}
