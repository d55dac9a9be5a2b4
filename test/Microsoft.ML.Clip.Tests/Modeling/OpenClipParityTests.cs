using System.Linq;
using Microsoft.ML.Clip.Modeling;
using Microsoft.ML.Clip.Modeling.Losses;
using Xunit;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace Microsoft.ML.Clip.Tests.Modeling;

/// <summary>Numerical parity with open_clip 2.32 on the tiny fixtures (GELU and QuickGELU).</summary>
public class OpenClipParityTests(ITestOutputHelper output)
{
    // |a−b| ≤ 1e-4 + 1e-4·|b|. open_clip's values come from PyTorch on another machine (other CPU, other oneDNN/MKL
    // kernels): the same fp32 math in other summation orders, through towers of width ≤ 64 and 2 layers, measured
    // at ~1e-6 on these fixtures. 1e-4 leaves two orders of magnitude for other CPUs; a wrong layer (GELU for
    // QuickGELU, a missing LayerNorm, a transposed projection) errs by more than 1e-2.
    private const double Tol = 1e-4;

    [Trait("Category", "Fixtures")]
    [FixtureTheory]
    [InlineData("tiny-gelu", false)]
    [InlineData("tiny-quickgelu", false)]
    [InlineData("tiny-gelu", true)]
    [InlineData("tiny-quickgelu", true)]
    [InlineData("tiny-rn-quickgelu", false)]
    public void FeaturesAndLogitsMatchOpenClip(string name, bool fusedAttention)
    {
        using var fx = new TinyFixture(name);
        using var model = fx.LoadModel();
        model.UseFusedAttention = fusedAttention;
        model.eval();
        using var _ = no_grad();

        using var image = model.EncodeImage(fx.Pixels);
        using var text = model.EncodeText(fx.Tokens);
        double e1 = TensorAssert.Close(image, fx.IO["output.image_features"], Tol, Tol, "image features");
        double e2 = TensorAssert.Close(text, fx.IO["output.text_features"], Tol, Tol, "text features");

        using var result = model.forward(fx.Pixels, fx.Tokens);
        using var logits = result.LogitsPerImage();
        double e3 = TensorAssert.Close(logits, fx.IO["output.logits_per_image"], Tol, Tol, "logits_per_image");
        double e4 = TensorAssert.Close(result.LogitScale.reshape(1), fx.IO["output.logit_scale_exp"], Tol, Tol, "logit scale");
        Assert.Equal(ScalarType.Float32, image.dtype);
        Assert.Null(result.LogitBias);
        output.WriteLine($"{name} (fused attention {fusedAttention}): max |Δ| image {e1:E2}, text {e2:E2}, logits {e3:E2}, scale {e4:E2}");
    }

    [Trait("Category", "Fixtures")]
    [FixtureTheory]
    [InlineData("tiny-gelu", false)]
    [InlineData("tiny-quickgelu", false)]
    [InlineData("tiny-gelu", true)]
    [InlineData("tiny-quickgelu", true)]
    public void LossAndEveryGradientMatchOpenClip(string name, bool fusedAttention)
    {
        using var fx = new TinyFixture(name);
        using var model = fx.LoadModel();
        model.UseFusedAttention = fusedAttention;
        model.train();

        using var result = model.forward(fx.Pixels, fx.Tokens);
        using var loss = ClipLoss.Compute(result.ImageFeatures, result.TextFeatures, result.LogitScale);
        // A loss of a few units from two fp32 implementations: a few dozen of its ulps (2.4e-7) at most; 1e-5.
        double lossError = TensorAssert.Close(loss.reshape(1), fx.IO["output.clip_loss"], 1e-5, 0, "CLIP loss");
        loss.backward();

        var (worst, worstName, count) = TensorAssert.EveryGradient(model, fx.IO, Tol, Tol);
        output.WriteLine($"{name} (fused attention {fusedAttention}): loss {loss.item<float>():F6} (|Δ| {lossError:E2}); {count} gradients, max |Δ| {worst:E2} ({worstName})");
    }

    /// <summary>
    /// The ModifiedResNet fixture: outputs and loss were computed in eval mode (BatchNorm running statistics),
    /// gradients in train mode (batch statistics) from the saved weights, as the fixtures README says.
    /// </summary>
    [Trait("Category", "Fixtures")]
    [FixtureFact]
    public void ResNetModelLossAndEveryGradientMatchOpenClip()
    {
        using var fx = new TinyFixture("tiny-rn-quickgelu");
        using var model = fx.LoadModel();
        model.eval();
        using (no_grad())
        using (var evalResult = model.forward(fx.Pixels, fx.Tokens))
        using (var evalLoss = ClipLoss.Compute(evalResult.ImageFeatures, evalResult.TextFeatures, evalResult.LogitScale))
            TensorAssert.Close(evalLoss.reshape(1), fx.IO["output.clip_loss"], 1e-5, 0, "CLIP loss (eval mode)");

        model.train();
        using var result = model.forward(fx.Pixels, fx.Tokens);
        using var loss = ClipLoss.Compute(result.ImageFeatures, result.TextFeatures, result.LogitScale);
        loss.backward();
        var (worst, _, count) = TensorAssert.EveryGradient(model, fx.IO, Tol, Tol);
        output.WriteLine($"tiny-rn-quickgelu: {count} gradients, max |Δ| {worst:E2}");
    }
}
