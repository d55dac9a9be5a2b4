using System;
using System.Linq;
using Microsoft.ML;
using Microsoft.ML.Clip.Modeling;
using Microsoft.ML.Clip.Tokenization;
using Microsoft.ML.Clip.Trainers;
using Microsoft.ML.Clip.Training;
using Microsoft.ML.Clip.Training.Objectives;
using Microsoft.ML.Clip.Training.Objectives.Filip;
using Xunit;

namespace Microsoft.ML.Clip.Tests.Pipeline;

/// <summary>
/// One options type per training run: <see cref="ClipPretrainOptions"/> is a <see cref="TrainingRunOptions"/>, checked
/// once, when the estimator is created (no data read, nothing trained), with the same messages as a
/// <see cref="TrainingRun"/> of the same settings; the estimator keeps a copy, so later changes to the caller's object
/// do not apply.
/// </summary>
public class TrainingOptionsTests
{
    private static readonly ClipConfig Architecture = DefaultColumnNamesTests.Architecture;

    private static readonly Lazy<ClipTokenizer> Tokenizer = new(() =>
        ClipBpeTrainer.Train(ColourPairs.Rows(16).Select(r => r.Text), new ClipBpeTrainerOptions { VocabularySize = 600 }));

    private static ClipPretrainOptions Valid() => new() { Architecture = Architecture, Tokenizer = Tokenizer.Value, Epochs = 1, BatchSize = 8 };

    public static TheoryData<string, Action<TrainingRunOptions>> RunSettingsOutOfRange => new()
    {
        { nameof(TrainingRunOptions.Epochs), o => o.Epochs = 0 },
        { nameof(TrainingRunOptions.BatchSize), o => o.BatchSize = 1 },
        { nameof(TrainingRunOptions.CheckpointEverySteps), o => o.CheckpointEverySteps = -1 },
        { nameof(TrainingRunOptions.KeepCheckpoints), o => o.KeepCheckpoints = 0 },
        { nameof(TrainingRunOptions.ZeroShotEverySteps), o => o.ZeroShotEverySteps = -2 },
        { nameof(ClipTrainerOptions.LearningRate), o => o.Trainer = new ClipTrainerOptions { LearningRate = 0 } },
    };

    [Theory]
    [MemberData(nameof(RunSettingsOutOfRange))]
    public void ASettingOutOfRangeFailsWhenTheEstimatorIsCreatedAsWhenTheRunIs(string setting, Action<TrainingRunOptions> spoil)
    {
        var mlContext = new MLContext(seed: 1);
        var options = Valid();
        spoil(options);
        var atEstimator = Assert.ThrowsAny<ArgumentException>(() => mlContext.Transforms.ClipPretrain(options));
        Assert.Equal(setting, atEstimator.ParamName);

        var runOptions = new TrainingRunOptions { BatchSize = 8 };
        spoil(runOptions);
        using var model = new ClipModel(Architecture, new TorchSharp.torch.Device("meta"));
        var atRun = Assert.ThrowsAny<ArgumentException>(() => new TrainingRun(model, new ContrastiveObjective(), runOptions));
        Assert.Equal(atEstimator.GetType(), atRun.GetType());
        Assert.Equal(atEstimator.Message, atRun.Message);
    }

    [Fact]
    public void StageSettingsAreCheckedWhenTheEstimatorIsCreated()
    {
        var mlContext = new MLContext(seed: 1);
        var noTokenizer = Valid();
        noTokenizer.Tokenizer = null;
        Assert.Equal(nameof(ClipPretrainOptions.Tokenizer), Assert.ThrowsAny<ArgumentException>(() => mlContext.Transforms.ClipPretrain(noTokenizer)).ParamName);
        var badFraction = Valid();
        badFraction.ValidationFraction = 1;
        Assert.Equal(nameof(ClipPretrainOptions.ValidationFraction), Assert.ThrowsAny<ArgumentException>(() => mlContext.Transforms.ClipPretrain(badFraction)).ParamName);
        var keepBest = Valid();
        keepBest.KeepBestByZeroShot = true;
        Assert.Equal(nameof(ClipPretrainOptions.KeepBestByZeroShot), Assert.ThrowsAny<ArgumentException>(() => mlContext.Transforms.ClipPretrain(keepBest)).ParamName);
        var badSet = Valid();
        var images = mlContext.Data.LoadFromEnumerable(ColourPairs.Rows(2).ToList());
        badSet.ZeroShotEvaluations = [new ClipZeroShotEvaluationSet("one class", images, ["red"], ["a {}"])];
        Assert.ThrowsAny<ArgumentException>(() => mlContext.Transforms.ClipPretrain(badSet));
    }

    [Fact]
    public void AWeightEnsembleOfModelsThatScoreDifferentlyIsRefusedBeforeTraining()
    {
        var mlContext = new MLContext(seed: 1);
        using var initialModel = new ClipModel(Architecture);
        var options = Valid();
        options.Architecture = null;
        options.Tokenizer = null;
        options.InitialModel = new ClipModelBundle(initialModel, Tokenizer.Value); // scores with the global cosine
        options.Objective = new FilipObjective();                                  // teaches FILIP's token-wise similarity
        options.WeightEnsemble = new ClipWeightEnsembleOptions { Alphas = [0.5] };
        var error = Assert.ThrowsAny<ArgumentException>(() => mlContext.Transforms.ClipPretrain(options));
        Assert.Equal(nameof(ClipPretrainOptions.WeightEnsemble), error.ParamName);
        Assert.Contains("token-wise", error.Message);
        options.Objective = null;
        mlContext.Transforms.ClipPretrain(options); // CLIP's objective scores as the initial model does
    }

    [Fact]
    public void TheEstimatorKeepsTheSettingsItWasCreatedWith()
    {
        var mlContext = new MLContext(seed: 1);
        var options = Valid();
        var estimator = mlContext.Transforms.ClipPretrain(options);
        options.Epochs = 0;
        options.ZeroShotEvaluations.Add(new ClipZeroShotEvaluationSet("late", mlContext.Data.LoadFromEnumerable(ColourPairs.Rows(2).ToList()), ["red", "blue"], ["a {}"]));
        Assert.Equal(1, estimator.Options.Epochs);
        Assert.Empty(estimator.Options.ZeroShotEvaluations);
        Assert.Equal("ClipPretrain", estimator.Options.Name);
        estimator.Options.Epochs = 5; // a copy: the estimator is not changed through it either
        Assert.Equal(1, estimator.Options.Epochs);

        var probeOptions = new ClipLinearProbeOptions { L2Grid = [1f, 1f, 10f] };
        var probe = mlContext.MulticlassClassification.Trainers.ClipLinearProbe(probeOptions);
        probeOptions.RefinementSteps = -1;
        Assert.Equal(4, probe.Options.RefinementSteps);
        Assert.Equal([1f, 10f], probe.Options.L2Grid);
    }
}
