using System;
using System.Linq;
using System.Threading;
using Microsoft.ML.Clip.Torch;
using Microsoft.ML;
using Microsoft.ML.Clip.Modeling;
using Microsoft.ML.Clip.Tokenization;
using Microsoft.ML.Clip.Training;
using Microsoft.ML.Clip.Transforms;
using Microsoft.ML.Data;
using Xunit;

namespace Microsoft.ML.Clip.Tests.Pipeline;

/// <summary>
/// Training and scoring while another thread forces garbage collections. TorchSharp 0.107 frees scalars and
/// tensor wrappers that are unreachable during a native call (see ScalarSafe); before the library kept them
/// reachable, this crashed the process or failed with "Expected false to be true ... toFloat" within a few
/// steps, as a data loader's allocations did in real runs.
/// </summary>
[Trait("Category", "Slow")]
public class ConcurrentGcTests
{
    private sealed class GcHammer : IDisposable
    {
        private volatile bool _stop;
        private readonly Thread _thread;

        public GcHammer()
        {
            _thread = new Thread(() => { while (!_stop) { GC.Collect(); GC.WaitForPendingFinalizers(); } }) { IsBackground = true };
            _thread.Start();
        }

        public void Dispose()
        {
            _stop = true;
            _thread.Join();
        }
    }

    [Theory]
    [InlineData(TrainingPrecision.Float32)]
    [InlineData(TrainingPrecision.BFloat16Mixed)]
    public void TrainingStepsSurviveConcurrentCollections(TrainingPrecision precision)
    {
        var config = new ClipConfig
        {
            EmbedDim = 16,
            Vision = new VisionConfig { ImageSize = 16, Layers = 1, Width = 32, HeadWidth = 16, PatchSize = 8 },
            Text = new TextConfig { ContextLength = 8, VocabSize = 64, Width = 32, Heads = 2, Layers = 1 },
        };
        TorchSharp.torch.manual_seed(1);
        using var model = new ClipModel(config);
        using var trainer = new ClipTrainer(model, new Microsoft.ML.Clip.Training.Objectives.ContrastiveObjective(),
            new ClipTrainerOptions { LearningRate = 1e-3, WarmupSteps = 2, Precision = precision }, 100);
        using var pixels = TorchSharp.torch.randn(8, 3, 16, 16);
        using var tokens = TorchSharp.torch.randint(1, 63, new long[] { 8, 8 });
        using var batch = new TrainingBatch(pixels, tokens);
        using (new GcHammer())
            for (int i = 0; i < 60; i++)
                Assert.True(double.IsFinite(trainer.Step(batch).Loss));
    }

    [Trait("Category", "Fixtures")]
    [FixtureFact]
    public void PretrainAndScoringSurviveConcurrentCollections()
    {
        var mlContext = new MLContext(seed: 1);
        var data = ColourPairs.DataView(mlContext, 64);
        var tokenizer = ClipTokenizer.FromOpenAIMergesFile(Fixtures.VocabularyPath);
        using (new GcHammer())
        {
            var model = mlContext.Transforms.ClipPretrain(new ClipPretrainOptions
            {
                Architecture = ClipStagesTests.TestArchitecture,
                Tokenizer = tokenizer,
                ImageColumnName = "ImageBytes",
                Epochs = 2,
                BatchSize = 16,
                ValidationFraction = 0.25,
                Seed = 2,
            }).Fit(data);
            var classes = ColourPairs.Colours.Select(c => c.Name).ToArray();
            var scored = mlContext.Transforms.ClipZeroShot(model.Bundle, classes, imageColumnName: "ImageBytes").Fit(data).Transform(model.Transform(data));
            Assert.Equal(64, scored.GetColumn<float[]>("Score").Count(s => s.All(float.IsFinite)));
        }
    }
}
