using System;
using Microsoft.ML.Clip.Modeling.Losses;
using Microsoft.ML.Clip.Weights;
using Xunit;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace Microsoft.ML.Clip.Tests.Modeling;

public class LossTests(ITestOutputHelper output)
{
    [Trait("Category", "Fixtures")]
    [FixtureFact]
    public void ClipAndSigLipLossesMatchOpenClip()
    {
        var tensors = SafeTensors.Load(Fixtures.Path("openclip", "losses", "clip_siglip.safetensors"));
        try
        {
            using var clip = ClipLoss.Compute(tensors["image"], tensors["text"], tensors["clip.scale"]);
            using var siglip = new SigLipLoss().forward(tensors["image"], tensors["text"], tensors["siglip.scale"], tensors["siglip.bias"]);
            // The same inputs through two fp32 implementations (ours, PyTorch's): losses of a few units differ by a
            // few ulps (2.4e-7 each) of summation order; 1e-5. A wrong scale or label layout errs by > 1e-2.
            double e1 = TensorAssert.Close(clip.reshape(1), tensors["clip.loss"], 1e-5, 0, "CLIP loss");
            double e2 = TensorAssert.Close(siglip.reshape(1), tensors["siglip.loss"], 1e-5, 0, "SigLIP loss");
            output.WriteLine($"CLIP loss {clip.item<float>():F6} (|Δ| {e1:E2}); SigLIP loss {siglip.item<float>():F6} (|Δ| {e2:E2})");
        }
        finally
        {
            foreach (var t in tensors.Values) t.Dispose();
        }
    }

    [Fact]
    public void ClipLossOfPerfectlySeparatedPairsIsNearZero()
    {
        using var features = eye(4);
        using var scale = tensor(100f);
        using var loss = new ClipLoss().forward(features, features, scale);
        Assert.True(loss.item<float>() < 1e-6);
    }

    [Fact]
    public void LossesRejectUnpairedFeatures()
    {
        using var a = randn(4, 8);
        using var b = randn(3, 8);
        using var s = tensor(1f);
        Assert.Throws<ArgumentException>(() => ClipLoss.Compute(a, b, s));
        Assert.Throws<ArgumentException>(() => SigLipLoss.Compute(a, b, s, s));
    }

    [Fact]
    public void LossesAcceptBf16FeaturesAndComputeInFp32()
    {
        using var a = randn(4, 8).to(ScalarType.BFloat16);
        using var b = randn(4, 8);
        using var s = tensor(10f);
        using var loss = ClipLoss.Compute(a, b, s);
        Assert.Equal(ScalarType.Float32, loss.dtype);
    }
}
