using System.IO;
using System.Linq;
using Microsoft.ML.Clip.Modeling;
using Microsoft.ML.Clip.Modeling.Losses;
using Microsoft.ML.Clip.Tests.Modeling;
using Xunit;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace Microsoft.ML.Clip.Tests.Family;

/// <summary>
/// Numerical parity with open_clip 2.32 / timm 1.0.15 on the family fixtures: EVA02-CLIP (CLIP loss) and SigLIP /
/// SigLIP 2 (logits with the bias, sigmoid loss): forward outputs, the loss, and the gradient of every parameter.
/// </summary>
public class FamilyParityTests(ITestOutputHelper output)
{
    // |a−b| ≤ 1e-4 + 1e-4·|b|, as for the openclip fixtures. The references come from PyTorch 2.6 on another CPU: the
    // same fp32 arithmetic in other summation orders (and timm's fused attention kernel where this test may run the
    // explicit form), through towers of width ≤ 64 with 2 blocks: measured ≤ 2e-6 on the features and ≤ 1e-5 on the
    // gradients here. A wrong piece errs by more than the tolerance: EachOptionSetOtherwise... below measures how much.
    private const double Tol = 1e-4;

    [Trait("Category", "Fixtures")]
    [FixtureTheory]
    [InlineData("eva02-tiny", false)]
    [InlineData("eva02-tiny", true)]
    [InlineData("siglip-tiny", false)]
    [InlineData("siglip-tiny", true)]
    [InlineData("siglip2-tiny", false)]
    public void FeaturesAndLogitsMatchOpenClip(string name, bool fusedAttention)
    {
        using var fx = new FamilyFixture(name);
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
        TensorAssert.Close(result.LogitScale.reshape(1), fx.IO["output.logit_scale_exp"], Tol, Tol, "logit scale");
        if (fx.IsSigLip)
            TensorAssert.Close(result.LogitBias!.reshape(1), fx.IO["output.logit_bias"], Tol, Tol, "logit bias");
        else
            Assert.Null(result.LogitBias);
        output.WriteLine($"{name} (fused attention {fusedAttention}): max |Δ| image {e1:E2}, text {e2:E2}, logits {e3:E2}");
    }

    [Trait("Category", "Fixtures")]
    [FixtureTheory]
    [InlineData("eva02-tiny", false)]
    [InlineData("eva02-tiny", true)]
    [InlineData("siglip-tiny", false)]
    [InlineData("siglip2-tiny", false)]
    [InlineData("siglip2-tiny", true)]
    public void LossAndEveryGradientMatchOpenClip(string name, bool fusedAttention)
    {
        using var fx = new FamilyFixture(name);
        using var model = fx.LoadModel();
        model.UseFusedAttention = fusedAttention;
        model.train();

        using var result = model.forward(fx.Pixels, fx.Tokens);
        using var loss = fx.IsSigLip
            ? SigLipLoss.Compute(result.ImageFeatures, result.TextFeatures, result.LogitScale, result.LogitBias!)
            : ClipLoss.Compute(result.ImageFeatures, result.TextFeatures, result.LogitScale);
        // A loss of a few units from two fp32 implementations: a few dozen of its ulps at most; 1e-5.
        double lossError = TensorAssert.Close(loss.reshape(1), fx.IO[fx.IsSigLip ? "output.siglip_loss" : "output.clip_loss"], 1e-5, 0, "loss");
        loss.backward();

        var (worst, worstName, count) = TensorAssert.EveryGradient(model, fx.IO, Tol, Tol);
        output.WriteLine($"{name} (fused attention {fusedAttention}): loss {loss.item<float>():F6} (|Δ| {lossError:E2}); " +
                         $"{count} gradients, max |Δ| {worst:E2} ({worstName})");
    }

    /// <summary>
    /// The tolerance above separates right from wrong: each option of the new towers, set otherwise, moves some feature of
    /// the same weights beyond it, so the parity tests above would fail on any of these mistakes. The closest call is tanh
    /// against exact GELU (the two activations differ by at most ~5e-4), measured at ~7× the tolerance, i.e. ~2,000× the
    /// errors of the right model (≤ 2e-6); the others are at least ~100×.
    /// </summary>
    [Trait("Category", "Fixtures")]
    [FixtureTheory]
    [InlineData("siglip2-tiny", "exact GELU instead of tanh")]
    [InlineData("siglip-tiny", "LayerNorm eps 1e-5 instead of 1e-6")]
    [InlineData("siglip-tiny", "causal mask")]
    [InlineData("siglip-tiny", "pooling at the end-of-text id")]
    [InlineData("eva02-tiny", "rotary reference grid 8 instead of 4")]
    public void EachOptionSetOtherwiseMissesTheFixtureByFarMoreThanTheTolerance(string name, string change)
    {
        using var fx = new FamilyFixture(name);
        var config = fx.Config;
        var text = config.Text;
        config = change switch
        {
            "exact GELU instead of tanh" => config with { Text = text with { TanhGelu = false } },
            "LayerNorm eps 1e-5 instead of 1e-6" => config with { Text = text with { LayerNormEps = 1e-5 } },
            "causal mask" => config with { Text = text with { CausalMask = true } },
            "pooling at the end-of-text id" => config with { Text = text with { Pooling = TextPooling.EndOfText } },
            _ => config with
            {
                Vision = config.Vision with
                {
                    Timm = config.Vision.Timm! with { Architecture = FamilyFixture.Eva02Tiny with { ReferenceGrid = 8 } },
                },
            },
        };
        using var model = new ClipModel(config);
        ClipWeights.Load(model, fx.WeightsPath);
        model.eval();
        using var _ = no_grad();
        bool image = change.StartsWith("rotary", System.StringComparison.Ordinal);
        using var features = image ? model.EncodeImage(fx.Pixels) : model.EncodeText(fx.Tokens);
        using var expected = fx.IO[image ? "output.image_features" : "output.text_features"];
        // The worst element's |Δ| in units of the parity tests' allowance for it, 1e-4 + 1e-4·|expected|.
        using var ratio = (features - expected).abs() / (expected.abs() * Tol + Tol);
        double worst = ratio.max().item<float>();
        output.WriteLine($"{name}, {change}: worst |Δ| = {worst:F1} × the tolerance");
        Assert.True(worst > 3, $"{change}: the features stay within {worst:F1} × the tolerance");
    }

    /// <summary>The fixture configs read into the architectures their timm_args.json describe, and written back the same.</summary>
    [Trait("Category", "Fixtures")]
    [FixtureTheory]
    [InlineData("eva02-tiny")]
    [InlineData("siglip-tiny")]
    [InlineData("siglip2-tiny")]
    public void FixtureConfigsReadAsTheirArchitecturesAndRoundTrip(string name)
    {
        using var fx = new FamilyFixture(name);
        Assert.Equal(FamilyFixture.ConfigOf(name), fx.Config);
        Assert.Equal(fx.Config, ClipConfig.FromOpenClipJson(fx.Config.ToOpenClipJson()));
        Assert.Equal(fx.Config, ClipConfig.FromOpenClipJson(File.ReadAllText(Path.Combine(fx.Folder, "config.json"))));
    }
}
