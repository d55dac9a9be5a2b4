using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Linq;
using Microsoft.ML;
using Microsoft.ML.Clip.Evaluation;
using Microsoft.ML.Clip.Imaging;
using Microsoft.ML.Clip.Modeling;
using Microsoft.ML.Clip.Modeling.Kernels;
using Microsoft.ML.Clip.Training;
using Microsoft.ML.Clip.Training.Objectives;
using Microsoft.ML.Clip.Transforms.Batching;
using Microsoft.ML.Clip.Transforms.Clip;
using Microsoft.ML.Clip.Transforms.Pretrain;
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
        _options = (ClipPretrainOptions)options.Copy(); // later changes to the caller's object do not apply
        _options.Validate();
    }

    /// <summary>A copy of the settings this estimator was created with (validated then).</summary>
    public ClipPretrainOptions Options => (ClipPretrainOptions)_options.Copy();

    /// <summary>Adds the two embedding columns; checks the image and caption columns.</summary>
    public SchemaShape GetOutputSchema(SchemaShape inputSchema) => EmbeddingSchema.Add(inputSchema,
        (_options.ImageEmbeddingColumnName, _options.ImageColumnName), (_options.TextEmbeddingColumnName, _options.TextColumnName));

    /// <summary>Trains on <paramref name="input"/>; progress goes to ML.NET's log and progress channel and to <see cref="ClipPretrainOptions.Progress"/>.</summary>
    public ClipEmbeddingTransformer Fit(IDataView input)
    {
        _host.CheckValue(input, nameof(input));
        var o = _options;
        var clock = Stopwatch.StartNew();
        using var ch = _host.Start("ClipPretrain");
        var processes = PretrainProcesses.Create(o.Distribution);
        int localBatch = TrainingRun.LocalShare(o.BatchSize, processes.Count);
        var objective = o.Objective ?? new ContrastiveObjective();
        var bundle = CreateBundle(o, objective, processes.DeviceFor(o.Device));
        using var cores = processes.ShareCores(bundle.Model.Device, ch);
        // The first training step of each convolution shape checks libtorch's kernel against float64 (see
        // ConvPathSelector); its decisions are logged here.
        using var convolutionLog = ConvPathSelector.Subscribe(line => ch.Info(line));
        // Column checks first: the errors name the column and the expected type. From here on the options name the
        // columns found (a default name may have found the loaders' ImageBytes / Caption), and so does the result.
        var imageInput = ImageInput.Bind(input.Schema, o.ImageColumnName, new ClipImagePreprocessor(bundle.Preprocessing));
        var textInput = TextInput.Bind(input.Schema, o.TextColumnName, bundle.Tokenizer, bundle.ContextLength, bundle.Model.Config.Text.VocabSize);
        o = o.WithInputColumns(imageInput.ColumnName, textInput.ColumnName);
        IDataView train = input, validation = o.ValidationData!;
        if (o.ValidationData is null && o.ValidationFraction > 0)
            (train, validation) = RowIdSplitView.Split(input, o.ValidationFraction, o.Seed); // keeps the input's shuffling

        var watcher = ZeroShotWatcher.Create(_host, o, bundle);
        var badRows = new BadRowLog(ch, o.SkipBadRows);
        var source = new DataViewBatchSource(_host, train, o, bundle, localBatch, processes.Shard(localBatch), badRows, processes.IsMain ? ch : null);
        var run = new TrainingRun(bundle.Model, objective, o, processes.Group, new TrainingRunHooks
        {
            Info = message => ch.Info(message),
            Warning = message => ch.Warning(message),
            Progress = o.Progress,
            CheckAlive = _host.CheckAlive,
            Validate = validation is null ? null : () =>
            {
                bundle.InvalidateInferenceCopy();
                return Validate(bundle, validation, o, badRows);
            },
            EvaluateZeroShot = watcher is null ? null : () =>
            {
                bundle.InvalidateInferenceCopy();
                return watcher.Evaluate(bundle);
            },
        });
        using var pch = _host.StartProgressChannel("ClipPretrain");
        pch.SetHeader(new ProgressHeader(["loss"], ["step"]), e =>
        {
            e.SetProgress(0, run.Step, run.TotalSteps);
            e.SetMetric(0, run.LastLoss);
        });
        var report = run.Run(source, new ClipPretrainReport());
        bundle.InvalidateInferenceCopy();
        bundle.Model.eval();
        if (o.WeightEnsemble is { } ensemble)
            bundle = WeightEnsemble.Choose(bundle, o.InitialModel!, ensemble, report, watcher,
                validation is null ? null : candidate => Validate(candidate, validation, o, badRows), ch);
        report.Seconds = clock.Elapsed.TotalSeconds;
        return new ClipEmbeddingTransformer(_host, bundle, (o.ImageEmbeddingColumnName, o.ImageColumnName),
            (o.TextEmbeddingColumnName, o.TextColumnName), o.InferenceBatchSize) { TrainingReport = report };
    }

    private static ClipModelBundle CreateBundle(ClipPretrainOptions o, ClipObjective objective, Device? device)
    {
        if (o.InitialModel is { } initial)
        {
            // Fine-tuning works on a copy: the caller's bundle keeps scoring with its own weights.
            var copy = initial.Model.Copy(device);
            return new ClipModelBundle(copy, initial.Tokenizer, initial.Preprocessing, o.InferenceDType) { Scoring = objective.Scoring(copy) };
        }
        manual_seed(o.Seed);
        var model = new ClipModel(objective.PrepareArchitecture(o.Architecture!), device);
        return new ClipModelBundle(model, o.Tokenizer!, o.Preprocessing, o.InferenceDType) { Scoring = objective.Scoring(model) };
    }

    /// <summary>
    /// Image→text and text→image retrieval of the validation pairs, scored as the objective taught; read with the
    /// training's bad-row policy, so rows skipped there are skipped (and counted) here too.
    /// </summary>
    private static RetrievalMetrics Validate(ClipModelBundle bundle, IDataView validation, ClipPretrainOptions o, BadRowLog badRows)
    {
        var (images, texts) = PairEncoder.Encode(bundle, validation, o.ImageColumnName, o.TextColumnName, o.InferenceBatchSize, badRows.Handler);
        using (images)
        using (texts)
            return bundle.Scoring.EvaluateRetrieval(images, texts);
    }
}
