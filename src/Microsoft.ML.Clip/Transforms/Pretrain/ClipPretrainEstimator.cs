using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.Linq;
using System.Threading;
using Microsoft.ML;
using Microsoft.ML.Clip.Evaluation;
using Microsoft.ML.Clip.Imaging;
using Microsoft.ML.Clip.Modeling;
using Microsoft.ML.Clip.Modeling.Kernels;
using Microsoft.ML.Clip.Training;
using Microsoft.ML.Clip.Training.Distributed;
using Microsoft.ML.Clip.Training.Objectives;
using Microsoft.ML.Clip.Transforms.Batching;
using Microsoft.ML.Data;
using Microsoft.ML.Runtime;
using static TorchSharp.torch;

namespace Microsoft.ML.Clip.Transforms;

/// <summary>
/// Trains a CLIP-family model on image–caption pairs (from scratch or from pretrained weights) and returns a
/// <see cref="ClipEmbeddingTransformer"/> that adds image and caption embeddings. Created by
/// <c>mlContext.Transforms.ClipPretrain(...)</c>; see <see cref="ClipPretrainOptions"/> for the settings.
/// </summary>
public sealed class ClipPretrainEstimator : IEstimator<ClipEmbeddingTransformer>
{
    private readonly IHost _host;
    private readonly ClipPretrainOptions _options;

    internal ClipPretrainEstimator(IHostEnvironment env, ClipPretrainOptions options)
    {
        _host = Contracts.CheckRef(env, nameof(env)).Register(nameof(ClipPretrainEstimator));
        _host.CheckValue(options, nameof(options));
        _options = options;
    }

    /// <summary>The settings.</summary>
    public ClipPretrainOptions Options => _options;

    /// <summary>Adds the two embedding columns; checks the image and caption columns.</summary>
    public SchemaShape GetOutputSchema(SchemaShape inputSchema) => EmbeddingSchema.Add(inputSchema,
        (_options.ImageEmbeddingColumnName, _options.ImageColumnName), (_options.TextEmbeddingColumnName, _options.TextColumnName));

    /// <summary>Trains on <paramref name="input"/>; progress goes to ML.NET's log and progress channel and to <see cref="ClipPretrainOptions.Progress"/>.</summary>
    public ClipEmbeddingTransformer Fit(IDataView input)
    {
        _host.CheckValue(input, nameof(input));
        var o = _options;
        o.Validate();
        var clock = Stopwatch.StartNew();
        using var ch = _host.Start("ClipPretrain");
        _channel = ch;
        _skippedRows = 0;

        var processes = PretrainProcesses.Create(o.Distribution);
        int localBatch = processes.LocalBatchSize(o.BatchSize, _host);
        var objective = o.Objective ?? new ContrastiveObjective();
        var bundle = CreateBundle(o, objective, processes.DeviceFor(o.Device));
        var model = bundle.Model;
        using var cores = processes.ShareCores(model.Device, ch);
        // The first training step of each convolution shape checks libtorch's kernel against float64 (see
        // ConvPathSelector); its decisions are logged here.
        using var convolutionLog = ConvPathSelector.Subscribe(line => ch.Info(line));
        var preprocessor = new ClipImagePreprocessor(bundle.Preprocessing);
        // Column checks first: the errors name the column and the expected type.
        ImageInput.Bind(input.Schema, o.ImageColumnName, preprocessor);
        TextInput.Bind(input.Schema, o.TextColumnName, bundle.Tokenizer, bundle.ContextLength, bundle.Model.Config.Text.VocabSize);

        IDataView train = input, validation = o.ValidationData!;
        if (o.ValidationData is null && o.ValidationFraction > 0)
            (train, validation) = RowIdSplitView.Split(input, o.ValidationFraction, o.Seed); // keeps the input's shuffling

        long trainRows = CountRows(train);
        long batchesPerEpoch = trainRows / o.BatchSize;
        if (batchesPerEpoch == 0)
            throw _host.Except($"ClipPretrain needs at least BatchSize = {o.BatchSize} training rows; the training data has {trainRows}.");
        long totalSteps = batchesPerEpoch * o.Epochs;
        void Info(string message) { if (processes.IsMain) ch.Info(message); }
        Info($"ClipPretrain: objective {objective.Name}, {trainRows:N0} training rows, batch {o.BatchSize}" +
             (processes.Count > 1 ? $" ({processes.Count} processes × {localBatch})" : "") + $", {o.Epochs} epochs = {totalSteps:N0} steps, " +
             $"{CountParameters(model) / 1e6:F1} M parameters, {o.Trainer.Precision}, device {model.Device}.");

        var order = EpochOrder.Choose(_host, train, trainRows, o, processes.IsMain ? ch : null);
        using var trainer = new ClipTrainer(model, objective, o.Trainer, totalSteps, processes.Group);
        var report = new ClipTrainingReport { Processes = processes.Count, IsMainProcess = processes.IsMain };
        // Only rank 0 touches the checkpoint folder; the others receive its state below.
        var checkpoints = o.CheckpointDirectory is null || !processes.IsMain ? null : new TrainingCheckpoints(o.CheckpointDirectory, o.KeepCheckpoints);
        var position = new TrainingPosition(0, 0, 0);
        if (checkpoints is not null && o.Resume && checkpoints.TryRestoreLatest(model, trainer.Optimizer, ch.Warning) is { } restored)
        {
            position = restored.Position;
            objective.LoadStateDict(restored.ObjectiveState);
            ch.Info($"Resumed from step {position.Step} (epoch {position.Epoch + 1}, batch {position.BatchesDoneInEpoch}) in '{checkpoints.DirectoryPath}'.");
        }
        if (processes.Group is { } group)
        {
            // Every rank starts from rank 0's weights, optimizer and objective state (fresh or resumed, whatever
            // the number of processes the checkpoint was written with).
            var (syncedPosition, objectiveState) = TrainingStateSync.Broadcast(group, model, trainer.Optimizer, objective.StateDict(), position);
            if (!processes.IsMain)
            {
                position = syncedPosition;
                objective.LoadStateDict(objectiveState);
            }
        }
        trainer.MasterWeightsChanged();

        using var pch = _host.StartProgressChannel("ClipPretrain");
        double lastLoss = double.NaN;
        long step = position.Step;
        pch.SetHeader(new ProgressHeader(["loss"], ["step"]), e =>
        {
            e.SetProgress(0, step, totalSteps);
            e.SetMetric(0, lastLoss);
        });

        void Save(int epoch, long batchesDone)
        {
            if (checkpoints is null) return;
            string path = checkpoints.Save(model, trainer.Optimizer, objective.StateDict(), new TrainingPosition(epoch, batchesDone, trainer.StepCount));
            ch.Info($"Checkpoint written: {path}");
        }

        for (int epoch = position.Epoch; epoch < o.Epochs; epoch++)
        {
            long skip = epoch == position.Epoch ? position.BatchesDoneInEpoch : 0;
            long done = 0;
            var (view, random) = order.For(epoch);
            var image = ImageInput.Bind(view.Schema, o.ImageColumnName, preprocessor);
            var text = TextInput.Bind(view.Schema, o.TextColumnName, bundle.Tokenizer, bundle.ContextLength, bundle.Model.Config.Text.VocabSize);
            var cursor = SerialCursor.Create(view, [view.Schema[image.ColumnIndex], view.Schema[text.ColumnIndex]], random);
            using (var pipeline = new ReadAheadPipeline(new ClipInputSession(cursor, image, text, [], BadRowHandler()), cursor, localBatch, shard: processes.Shard(localBatch)))
            {
                while (done < batchesPerEpoch)
                {
                    // A process that fails to read its rows, or is cancelled, tells the others at the agreement below,
                    // so every process stops at the same step.
                    ClipInputBatch? batch = null;
                    Exception? readFailure = null;
                    try { batch = pipeline.Next() as ClipInputBatch; }
                    catch (Exception error) when (processes.Group is not null && error is not OperationCanceledException) { readFailure = error; }
                    if (processes.Group is null)
                    {
                        if (batch is null) break;
                        if (batch.Count < 2) continue; // a batch whose rows were all skipped as bad
                        if (batch.Count < localBatch && !o.SkipBadRows) break; // the incomplete last batch: fewer negatives, skipped as open_clip's drop_last
                    }
                    else if (batch is null && readFailure is null)
                    {
                        readFailure = new InvalidOperationException(
                            $"The training data ended after {done} of the {batchesPerEpoch} batches of epoch {epoch + 1} expected from its {trainRows} rows; did it change during training?");
                    }
                    var cancellation = Cancellation();
                    var agreement = processes.Agree(batch?.Count ?? 0, readFailure, cancellation is not null);
                    if (done < skip) { done++; continue; } // resumed run: these batches were trained on before the checkpoint
                    if (cancellation is not null || agreement?.Cancelled == true)
                    {
                        Save(epoch, done);
                        throw cancellation ?? new OperationCanceledException("ClipPretrain was cancelled on another process of the job.");
                    }
                    if (agreement is not null && (agreement.TotalRows < 2 || Array.IndexOf(agreement.RowCounts, 0) >= 0))
                    {
                        done++;
                        if (processes.IsMain) ch.Warning($"Step {trainer.StepCount + 1}: a process has no readable rows in this batch (SkipBadRows); the batch is skipped on every process.");
                        continue;
                    }
                    TrainingStepResult result;
                    using (var pixels = batch!.PixelTensor(bundle.Preprocessing.ImageSize))
                    using (var tokens = batch.TokenTensor(bundle.ContextLength))
                    using (var onDevice = new TrainingBatch(pixels.to(model.Device), tokens.to(model.Device)))
                        result = trainer.Step(onDevice, agreement);
                    done++;
                    step = trainer.StepCount;
                    if (result.Skipped)
                    {
                        report.SkippedSteps++;
                        if (processes.IsMain) ch.Warning($"Step {step + 1}: non-finite loss or gradient; step skipped.");
                        continue;
                    }
                    lastLoss = result.Loss;
                    report.Losses.Add((step, result.Loss));
                    if (step % Math.Max(1, o.LogEverySteps) == 0 || done == batchesPerEpoch)
                        Info(string.Format(CultureInfo.InvariantCulture, "epoch {0}/{1} step {2}/{3} loss {4:F4} lr {5:E2} temperature {6:F1} grad-norm {7:F3}",
                            epoch + 1, o.Epochs, step, totalSteps, result.Loss, result.LearningRate, result.Temperature, result.GradientNorm));
                    if (processes.IsMain)
                        o.Progress?.Report(new ClipTrainingProgress(epoch + 1, o.Epochs, step, totalSteps, result.Loss, result.LearningRate, null, clock.Elapsed));
                    if (o.CheckpointEverySteps > 0 && step % o.CheckpointEverySteps == 0 && done < batchesPerEpoch)
                        Save(epoch, done);
                }
            }
            if (processes.Group is { } job)
                TrainingStateSync.VerifyIdentical(job, model);
            Save(epoch + 1, 0);
            if (validation is not null && processes.IsMain)
            {
                bundle.InvalidateInferenceCopy();
                var metrics = Validate(bundle, validation);
                report.Validation.Add((epoch + 1, step, metrics.ImageToText.RecallAt1, metrics.TextToImage.RecallAt1,
                    (metrics.ImageToText.RecallAt5 + metrics.TextToImage.RecallAt5) / 2));
                ch.Info($"epoch {epoch + 1} validation ({metrics.Count} pairs): {metrics}");
                o.Progress?.Report(new ClipTrainingProgress(epoch + 1, o.Epochs, step, totalSteps, double.NaN, 0,
                    (metrics.ImageToText.RecallAt1 + metrics.TextToImage.RecallAt1) / 2, clock.Elapsed));
            }
        }

        bundle.InvalidateInferenceCopy();
        model.eval();
        report.Steps = trainer.StepCount;
        report.SkippedRows = Interlocked.Read(ref _skippedRows);
        if (report.SkippedRows > 0)
            ch.Warning($"ClipPretrain skipped {report.SkippedRows:N0} bad rows (SkipBadRows).");
        report.Seconds = clock.Elapsed.TotalSeconds;
        return new ClipEmbeddingTransformer(_host, bundle, (o.ImageEmbeddingColumnName, o.ImageColumnName),
            (o.TextEmbeddingColumnName, o.TextColumnName), o.InferenceBatchSize) { TrainingReport = report };
    }

    /// <summary>The cancellation asked for by the host or the token, as the exception to throw; null when none.</summary>
    private OperationCanceledException? Cancellation()
    {
        try
        {
            _host.CheckAlive();
            _options.CancellationToken.ThrowIfCancellationRequested();
            return null;
        }
        catch (OperationCanceledException cancelled) { return cancelled; }
    }

    private long _skippedRows;
    private IChannel? _channel;

    /// <summary>With <see cref="ClipPretrainOptions.SkipBadRows"/>: counts and logs each bad row instead of failing.</summary>
    private Action<ClipInputException>? BadRowHandler()
    {
        if (!_options.SkipBadRows) return null;
        return error =>
        {
            long count = Interlocked.Increment(ref _skippedRows);
            if (count <= 100) _channel?.Warning($"Skipped bad row: {error.Message}");
            else if (count == 101) _channel?.Warning("More bad rows skipped; further ones are only counted.");
        };
    }

    private static ClipModelBundle CreateBundle(ClipPretrainOptions o, ClipObjective objective, Device? device)
    {
        if (o.InitialModel is { } initial)
        {
            // Fine-tuning works on a copy: the caller's bundle keeps scoring with its own weights.
            var copy = initial.Model.Copy(device);
            return new ClipModelBundle(copy, initial.Tokenizer, initial.Preprocessing, o.InferenceDType) { Similarity = objective.Similarity };
        }
        manual_seed(o.Seed);
        var model = new ClipModel(objective.PrepareArchitecture(o.Architecture!), device);
        return new ClipModelBundle(model, o.Tokenizer!, o.Preprocessing, o.InferenceDType) { Similarity = objective.Similarity };
    }

    /// <summary>Image→text and text→image retrieval of the validation pairs.</summary>
    private RetrievalMetrics Validate(ClipModelBundle bundle, IDataView validation)
    {
        if (bundle.Similarity == ClipSimilarityKind.FilipTokenWise)
            return Training.Objectives.Filip.FilipRetrieval.Evaluate(bundle, validation, _options.ImageColumnName, _options.TextColumnName, _options.InferenceBatchSize);
        // Read through the same input session as training, so rows skipped there are skipped here too.
        var model = bundle.InferenceModel();
        var image = ImageInput.Bind(validation.Schema, _options.ImageColumnName, new ClipImagePreprocessor(bundle.Preprocessing));
        var text = TextInput.Bind(validation.Schema, _options.TextColumnName, bundle.Tokenizer, bundle.ContextLength, bundle.Model.Config.Text.VocabSize);
        var cursor = SerialCursor.Create(validation, [validation.Schema[image.ColumnIndex], validation.Schema[text.ColumnIndex]]);
        var images = new List<float[]>();
        var texts = new List<float[]>();
        using (var pipeline = new ReadAheadPipeline(new ClipInputSession(cursor, image, text, [], BadRowHandler()), cursor, _options.InferenceBatchSize))
        {
            while (pipeline.Next() is ClipInputBatch batch)
            {
                if (batch.Count == 0) continue;
                using var batchScope = NewDisposeScope();
                using var noGrad = no_grad();
                var imageEmbeddings = model.EncodeImage(batch.PixelTensor(bundle.Preprocessing.ImageSize).to(model.Device), normalize: true).to(ScalarType.Float32).cpu();
                var textEmbeddings = model.EncodeText(batch.TokenTensor(bundle.ContextLength).to(model.Device), normalize: true).to(ScalarType.Float32).cpu();
                for (int i = 0; i < batch.Count; i++)
                {
                    images.Add(imageEmbeddings[i].data<float>().ToArray());
                    texts.Add(textEmbeddings[i].data<float>().ToArray());
                }
            }
        }
        int n = images.Count, d = bundle.EmbeddingSize;
        using var scope = NewDisposeScope();
        var imageTensor = tensor(images.SelectMany(v => v).ToArray(), new long[] { n, d });
        var textTensor = tensor(texts.SelectMany(v => v).ToArray(), new long[] { n, d });
        return RetrievalEvaluator.Evaluate(imageTensor, textTensor);
    }

    private static long CountRows(IDataView data)
    {
        if (data.GetRowCount() is long known) return known;
        long count = 0;
        using var cursor = data.GetRowCursor([]);
        while (cursor.MoveNext()) count++;
        return count;
    }

    private static long CountParameters(ClipModel model) => model.parameters().Sum(p => p.numel());
}
