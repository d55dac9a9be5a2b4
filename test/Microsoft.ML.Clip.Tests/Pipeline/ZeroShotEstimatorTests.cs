using System.Linq;
using Microsoft.ML;
using Microsoft.ML.Clip.Modeling;
using Microsoft.ML.Clip.Tokenization;
using Microsoft.ML.Clip.Torch;
using Microsoft.ML.Clip.Transforms;
using Microsoft.ML.Data;
using Xunit;
using static TorchSharp.torch;

namespace Microsoft.ML.Clip.Tests.Pipeline;

/// <summary>
/// ClipZeroShot follows ML.NET's estimator pattern: building the pipeline computes nothing, <c>Fit</c> learns the class
/// embeddings from the bundle's weights of that moment, and every <c>Fit</c> returns a transformer of its own.
/// </summary>
public class ZeroShotEstimatorTests
{
    private static readonly string[] Classes = ["red", "green", "blue", "yellow"];

    [Fact]
    public void TheClassEmbeddingsAreLearnedInFitFromTheWeightsOfThatMoment()
    {
        var rows = ColourPairs.Rows(6, seed: 2).ToList();
        var tokenizer = ClipBpeTrainer.Train(ColourPairs.Rows(32, seed: 1).Select(r => r.Text).Concat(Classes),
            new ClipBpeTrainerOptions { VocabularySize = 540 });
        var config = new ClipConfig
        {
            EmbedDim = 16,
            Vision = new VisionConfig { ImageSize = 16, Layers = 1, Width = 16, HeadWidth = 16, PatchSize = 8 },
            Text = new TextConfig { ContextLength = 8, VocabSize = tokenizer.VocabularySize, Width = 16, Heads = 1, Layers = 1 },
        };
        manual_seed(7);
        using var model = new ClipModel(config);
        model.eval();
        var bundle = new ClipModelBundle(model, tokenizer);
        var mlContext = new MLContext(seed: 0);
        var data = mlContext.Data.LoadFromEnumerable(rows);
        float[][] Scores(ClipZeroShotTransformer t) => t.Transform(data).GetColumn<float[]>("Score").ToArray();

        var estimator = mlContext.Transforms.ClipZeroShot(bundle, Classes, ["a {} picture"], imageColumnName: "ImageBytes");
        var first = estimator.Fit(data);
        var before = Scores(first);
        Assert.NotSame(first, estimator.Fit(data));

        // The text tower changes after the estimator was made: a Fit now sees the new weights, the earlier transformer
        // keeps the classes it learned.
        using (no_grad())
            ScalarSafe.MulInPlace(model.named_parameters().Single(p => p.name == "token_embedding.weight").parameter, -3);
        var after = Scores(estimator.Fit(data));
        var fresh = Scores(mlContext.Transforms.ClipZeroShot(bundle, Classes, ["a {} picture"], imageColumnName: "ImageBytes").Fit(data));
        Assert.Equal(fresh, after); // the same computation on the same weights
        Assert.Equal(before, Scores(first));
        // Random weights, but reversed token embeddings move every class embedding: the probabilities change by far more
        // than rounding.
        Assert.True(before.Zip(after).Max(p => p.First.Zip(p.Second).Max(q => System.Math.Abs(q.First - q.Second))) > 1e-3f);
    }
}
