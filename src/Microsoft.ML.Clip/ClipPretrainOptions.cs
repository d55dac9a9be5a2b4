using System;
using System.Collections.Generic;
using System.Linq;
using Microsoft.ML.Clip.Imaging;
using Microsoft.ML.Clip.Modeling;
using Microsoft.ML.Clip.Tokenization;
using Microsoft.ML.Clip.Training;
using Microsoft.ML.Clip.Training.Objectives;
using Microsoft.ML.Clip.Transforms;
using static TorchSharp.torch;

namespace Microsoft.ML.Clip;

/// <summary>
/// Settings of <c>mlContext.Transforms.ClipPretrain</c>: the training run's (<see cref="TrainingRunOptions"/>: epochs,
/// batch, optimizer, checkpoints, logging) and the pipeline stage's own (columns, model, data order, validation,
/// watched zero-shot sets, WiSE-FT, device, scoring). Checked when the estimator is created; the estimator keeps a copy.
/// </summary>
public sealed class ClipPretrainOptions : TrainingRunOptions
{
    /// <summary>The defaults (the run is named <c>ClipPretrain</c> in logs and errors).</summary>
    public ClipPretrainOptions() => Name = "ClipPretrain";

    /// <summary>
    /// Image column: MLImage (from <c>LoadImages</c>) or encoded bytes (from <c>LoadRawImageBytes</c> or the
    /// <c>mlContext.Data</c> loaders). The default, <c>Image</c>, reads the loaders' <c>ImageBytes</c> when the input
    /// has that and no <c>Image</c>; any other name is read as given.
    /// </summary>
    public string ImageColumnName { get; set; } = "Image";

    /// <summary>
    /// Caption column (String, or token ids). The default, <c>Text</c>, reads the loaders' <c>Caption</c> when the
    /// input has that and no <c>Text</c>; any other name is read as given.
    /// </summary>
    public string TextColumnName { get; set; } = "Text";

    /// <summary>Output column of image embeddings.</summary>
    public string ImageEmbeddingColumnName { get; set; } = "ImageEmbedding";

    /// <summary>Output column of caption embeddings.</summary>
    public string TextEmbeddingColumnName { get; set; } = "TextEmbedding";

    /// <summary>
    /// Architecture of a model trained from scratch (a <see cref="ClipPresets"/> entry or
    /// <see cref="ClipConfig.FromOpenClipJson"/>). Ignored when <see cref="InitialModel"/> is set.
    /// </summary>
    public ClipConfig? Architecture { get; set; }

    /// <summary>Start from these pretrained weights (fine-tuning); its tokenizer and preprocessing are used. Its weights are copied, not changed.</summary>
    public ClipModelBundle? InitialModel { get; set; }

    /// <summary>Tokenizer for a model trained from scratch (e.g. <see cref="ClipTokenizer.FromOpenAIMergesFile(string)"/>, <see cref="ClipBpeTrainer.Train"/>, <see cref="SigLipTokenizer.FromSpieceModel(string)"/>).</summary>
    public ClipTextTokenizer? Tokenizer { get; set; }

    /// <summary>Image preprocessing for a model trained from scratch; null: CLIP's defaults at the architecture's image size.</summary>
    public ImagePreprocessingOptions? Preprocessing { get; set; }

    /// <summary>The training method; null: CLIP's symmetric InfoNCE (<see cref="ContrastiveObjective"/>).</summary>
    public ClipObjective? Objective { get; set; }

    /// <summary>
    /// Data-parallel training over MPI (launch the application with <c>mpiexec -n N</c>): by default used when
    /// <c>mpiexec</c> started more than one process. Every process runs the same pipeline and reads its own share of
    /// each batch; rank 0 logs, validates and writes checkpoints. See <see cref="ClipDistribution"/>.
    /// </summary>
    public ClipDistribution Distribution { get; set; } = ClipDistribution.Auto;

    /// <summary>Fraction of the input held out for validation retrieval recall after each epoch (ignored when <see cref="ValidationData"/> is set). 0 disables.</summary>
    public double ValidationFraction { get; set; } = 0.1;

    /// <summary>A separate validation set with the same columns.</summary>
    public IDataView? ValidationData { get; set; }

    /// <summary>
    /// Labelled image sets whose zero-shot accuracy is measured after every epoch (and every
    /// <see cref="TrainingRunOptions.ZeroShotEverySteps"/> steps) with the weights of that moment, by the library's zero-shot stage: logged
    /// on ML.NET's channel, sent to <see cref="Progress"/> and kept in <see cref="ClipTrainingReport.ZeroShot"/>. Watch a
    /// set from the domain you fine-tune on and one from the domains the initial model should not forget.
    /// </summary>
    public IList<ClipZeroShotEvaluationSet> ZeroShotEvaluations { get; set; } = [];

    /// <summary>
    /// Return a weight-space ensemble of <see cref="InitialModel"/> and the fine-tuned weights (WiSE-FT) rather than the
    /// fine-tuned weights, with α chosen on the watched zero-shot sets or the validation pairs when several are given.
    /// Null (default): the fine-tuned weights. Needs <see cref="InitialModel"/>.
    /// </summary>
    public ClipWeightEnsembleOptions? WeightEnsemble { get; set; }

    /// <summary>
    /// Read the training rows in a fresh random order every epoch (seeded by <see cref="Seed"/> and the epoch), the
    /// same on every process of a data-parallel job. Default true: a contrastive batch takes its negatives from
    /// itself, and data stored in folder or class order would otherwise fill batches with one class. Views that can
    /// shuffle (this library's loaders, <c>mlContext.Data.Cache</c>, in-memory lists) are permuted whole with images
    /// read lazily; others go through a shuffle pool of <see cref="ShufflePoolSize"/> rows. False: stored order
    /// (for reproducing a known sequence of batches).
    /// </summary>
    public bool Shuffle { get; set; } = true;

    /// <summary>
    /// Rows of ML.NET's shuffle pool (<c>ShuffleRows</c>) for training data whose loader cannot shuffle (ML.NET's text
    /// loader, <c>LoadFromEnumerable</c>); a warning says when it is smaller than the data. Not used for views that
    /// shuffle themselves. Default 1000.
    /// </summary>
    public int ShufflePoolSize { get; set; } = 1000;

    /// <summary>Seed for initialisation, data order and the validation split.</summary>
    public int Seed { get; set; }

    /// <summary>Where the model trains (<c>cpu</c>, <c>cuda</c>, <c>cuda:1</c>); null: CPU.</summary>
    public Device? Device { get; set; }

    /// <summary>Receives a report after every optimizer step and validation (besides ML.NET's log and progress channel).</summary>
    public IProgress<ClipTrainingProgress>? Progress { get; set; }

    /// <summary>Rows per batch when the fitted transformer scores data.</summary>
    public int InferenceBatchSize { get; set; } = 64;

    /// <summary>Arithmetic of the fitted transformer's scoring (Float32 or BFloat16).</summary>
    public ScalarType InferenceDType { get; set; } = ScalarType.Float32;

    /// <summary>A copy that reads the given columns (the names a Fit resolved against its input).</summary>
    internal ClipPretrainOptions WithInputColumns(string imageColumnName, string textColumnName)
    {
        var copy = (ClipPretrainOptions)Copy();
        copy.ImageColumnName = imageColumnName;
        copy.TextColumnName = textColumnName;
        return copy;
    }

    /// <summary>
    /// The training run's checks (<see cref="TrainingRunOptions.Validate"/>) and the stage's: column names, model source,
    /// validation split, shuffle pool, watched zero-shot sets and the weight-space ensemble. Runs when the estimator is
    /// created; throws an <see cref="ArgumentException"/> naming the first setting that cannot work.
    /// </summary>
    public override void Validate()
    {
        base.Validate();
        ArgumentException.ThrowIfNullOrEmpty(ImageColumnName, nameof(ImageColumnName));
        ArgumentException.ThrowIfNullOrEmpty(TextColumnName, nameof(TextColumnName));
        ArgumentException.ThrowIfNullOrEmpty(ImageEmbeddingColumnName, nameof(ImageEmbeddingColumnName));
        ArgumentException.ThrowIfNullOrEmpty(TextEmbeddingColumnName, nameof(TextEmbeddingColumnName));
        if (ValidationFraction is < 0 or >= 1) throw new ArgumentOutOfRangeException(nameof(ValidationFraction), ValidationFraction, "The validation fraction must be in [0, 1).");
        if (ShufflePoolSize < 1) throw new ArgumentOutOfRangeException(nameof(ShufflePoolSize), ShufflePoolSize, "The shuffle pool needs at least one row.");
        if (InferenceBatchSize < 1) throw new ArgumentOutOfRangeException(nameof(InferenceBatchSize), InferenceBatchSize, "The batch size must be positive.");
        if (InferenceDType is not (ScalarType.Float32 or ScalarType.BFloat16))
            throw new ArgumentOutOfRangeException(nameof(InferenceDType), InferenceDType, "Inference runs in Float32 or BFloat16.");
        if (InitialModel is null && Tokenizer is null)
            throw new ArgumentException("Training from scratch needs a tokenizer: set Tokenizer (ClipTokenizer.FromOpenAIMergesFile, ClipTokenizer.FromHuggingFace, ClipTextTokenizer.FromHubFolder) or start from InitialModel.", nameof(Tokenizer));
        if (InitialModel is null && Architecture is null)
            throw new ArgumentException("Training from scratch needs an architecture: set Architecture (e.g. ClipPresets.Tiny) or start from InitialModel.", nameof(Architecture));
        var watched = ZeroShotEvaluations ?? [];
        foreach (var set in watched)
            ClipZeroShotTransformer.CheckArguments(set.ClassNames, set.Templates);
        if (watched.GroupBy(s => s.Name).FirstOrDefault(g => g.Count() > 1) is { } duplicate)
            throw new ArgumentException($"Two zero-shot evaluation sets are called '{duplicate.Key}'; names must be unique.", nameof(ZeroShotEvaluations));
        if (KeepBestByZeroShot && watched.Count == 0)
            throw new ArgumentException("KeepBestByZeroShot needs at least one set in ZeroShotEvaluations.", nameof(KeepBestByZeroShot));
        if (WeightEnsemble is { } ensemble)
            ValidateWeightEnsemble(ensemble, watched.Count > 0);
    }

    private void ValidateWeightEnsemble(ClipWeightEnsembleOptions ensemble, bool watched)
    {
        if (InitialModel is not { } initial)
            throw new ArgumentException("WeightEnsemble interpolates the fine-tuned weights with InitialModel's; set InitialModel.", nameof(WeightEnsemble));
        if (ensemble.Alphas is not { Count: > 0 } || ensemble.Alphas.Any(a => !double.IsFinite(a)))
            throw new ArgumentException("WeightEnsemble.Alphas needs at least one finite α.", nameof(WeightEnsemble));
        if (ensemble.Alphas.Count > 1 && ensemble.SelectBy == ClipEnsembleSelection.ZeroShot && !watched)
            throw new ArgumentException("Choosing α by zero-shot accuracy needs at least one set in ZeroShotEvaluations.", nameof(WeightEnsemble));
        if (ensemble.Alphas.Count > 1 && ensemble.SelectBy == ClipEnsembleSelection.ValidationRetrieval && ValidationData is null && ValidationFraction == 0)
            throw new ArgumentException("Choosing α by validation retrieval needs ValidationData or a ValidationFraction above 0.", nameof(WeightEnsemble));
        // ClipModelBundle.Interpolate refuses models that score differently; say so before training rather than after.
        string trained = (Objective ?? new ContrastiveObjective()).Scoring(initial.Model).Name;
        if (trained != initial.Scoring.Name)
            throw new ArgumentException($"WeightEnsemble interpolates models that score alike, but InitialModel scores '{initial.Scoring.Name}' and the " +
                                        $"objective teaches '{trained}'.", nameof(WeightEnsemble));
    }

    /// <summary>A copy of these settings, with its own list of watched sets.</summary>
    internal override TrainingRunOptions Copy()
    {
        var copy = (ClipPretrainOptions)base.Copy();
        copy.ZeroShotEvaluations = ZeroShotEvaluations is null ? [] : [.. ZeroShotEvaluations];
        return copy;
    }
}
