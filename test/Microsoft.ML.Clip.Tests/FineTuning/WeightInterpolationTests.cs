using System;
using System.Linq;
using Microsoft.ML.Clip.Modeling;
using Xunit;
using static TorchSharp.torch;

namespace Microsoft.ML.Clip.Tests.FineTuning;

public class WeightInterpolationTests
{
    private static readonly ClipConfig ResNet = new()
    {
        EmbedDim = 16,
        Vision = new VisionConfig { ImageSize = 32, ResNetLayers = [1, 1, 1, 1], Width = 16, HeadWidth = 16 },
        Text = new TextConfig { ContextLength = 8, VocabSize = 50, Width = 32, Heads = 2, Layers = 2 },
    };

    /// <summary>Two models of one architecture with different weights and different BatchNorm statistics.</summary>
    private static (ClipModel, ClipModel) Pair()
    {
        manual_seed(1);
        var a = new ClipModel(ResNet);
        manual_seed(2);
        var b = new ClipModel(ResNet);
        using (no_grad())
        {
            b.train();
            b.EncodeImage(randn(4, 3, 32, 32)); // moves b's running statistics and num_batches_tracked
            b.eval();
        }
        return (a, b);
    }

    private static bool Same(Tensor x, Tensor y) => x.dtype == y.dtype && x.shape.SequenceEqual(y.shape) && x.equal(y).all().item<bool>();

    [Fact]
    public void TheEndpointsAreExactAndTheMiddleIsTheMean()
    {
        var (a, b) = Pair();
        using (a)
        using (b)
        {
            Assert.False(Same(a.state_dict()["visual.bn1.running_mean"], b.state_dict()["visual.bn1.running_mean"]));
            using var zero = WeightInterpolation.Interpolate(a, b, 0);
            using var one = WeightInterpolation.Interpolate(a, b, 1);
            using var half = WeightInterpolation.Interpolate(a, b, 0.5);
            var (sa, sb) = (a.state_dict(), b.state_dict());
            foreach (var (name, value) in zero.state_dict()) Assert.True(Same(value, sa[name]), $"α = 0: {name}");
            foreach (var (name, value) in one.state_dict()) Assert.True(Same(value, sb[name]), $"α = 1: {name}");
            foreach (var (name, value) in half.state_dict())
            {
                if (!value.is_floating_point())
                {
                    Assert.True(Same(value, sb[name]), $"α = ½ takes the integer buffer {name} from the second model");
                    continue;
                }
                // ½a and ½b are exact in binary floating point, so their sum is rounded once, as (a + b) then the exact
                // halving is: the two agree bit for bit (no subnormals at these magnitudes).
                using var mean = (sa[name] + sb[name]) * 0.5;
                Assert.True(Same(value, mean), $"α = ½: {name} is not the mean");
            }
        }
    }

    [Fact]
    public void MismatchedArchitecturesAreRefusedNamingWhatDiffers()
    {
        using var a = new ClipModel(ResNet);
        using var deeper = new ClipModel(ResNet with { Text = ResNet.Text with { Layers = 3 } });
        var error = Assert.Throws<ArgumentException>(() => WeightInterpolation.Interpolate(a, deeper, 0.5));
        Assert.Contains("'transformer.resblocks.2.", error.Message);
        Assert.Contains("in the second model but not in the first", error.Message);

        using var wider = new ClipModel(ResNet with { EmbedDim = 32 });
        error = Assert.Throws<ArgumentException>(() => WeightInterpolation.Interpolate(a, wider, 0.5));
        Assert.Contains("'text_projection' has shape [32, 16] in the first model and [32, 32] in the second", error.Message);

        using var otherHeads = new ClipModel(ResNet with { Text = ResNet.Text with { Heads = 4 } });
        error = Assert.Throws<ArgumentException>(() => WeightInterpolation.Interpolate(a, otherHeads, 0.5));
        Assert.Contains("Text.Heads is 2 in the first and 4 in the second", error.Message);
    }
}
