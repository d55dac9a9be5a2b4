using System;
using System.IO;
using System.Linq;
using Microsoft.ML.Clip.Modeling;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace Microsoft.ML.Clip.Tests.Modeling;

/// <summary>Behaviour beyond the open_clip reference numbers: names, hooks, inputs, save/load.</summary>
public class ClipModelBehaviourTests
{
    [Trait("Category", "Fixtures")]
    [FixtureFact]
    public void StateDictNamesAreOpenClips()
    {
        using var fx = new TinyFixture("tiny-gelu");
        using var model = new ClipModel(fx.Config);
        var names = model.state_dict().Keys.OrderBy(k => k, StringComparer.Ordinal).ToList();
        Assert.Equal(fx.Weights.Keys.OrderBy(k => k, StringComparer.Ordinal).ToList(), names);
    }

    [Trait("Category", "Fixtures")]
    [FixtureFact]
    public void KeepingEveryPatchInOrderEqualsTheFullForward()
    {
        using var fx = new TinyFixture("tiny-gelu");
        using var model = fx.LoadModel();
        model.eval();
        using var _ = no_grad();
        using var reference = model.EncodeImage(fx.Pixels);
        var tower = (ITokenImageTower)model.Visual;
        Assert.Equal(16, tower.PatchCount);
        using var all = arange(16).unsqueeze(0).expand(4, 16);
        using var tokens = model.EncodeImageTokens(fx.Pixels, all);
        TensorAssert.Close(tokens.Pooled.to(ScalarType.Float32), reference, 1e-6, 1e-6, "pooled with all patches kept");
        Assert.Equal([4L, 16, 48], tokens.Tokens.shape);

        using var unprojected = model.EncodeImageTokens(fx.Pixels, projectTokens: false);
        Assert.Equal([4L, 16, 64], unprojected.Tokens.shape);

        // A subset changes the result and the token count.
        using var some = tensor(new long[] { 0, 5, 9, 15, 1, 2, 3, 4 }, [2, 4]).repeat(2, 1);
        using var subset = model.EncodeImageTokens(fx.Pixels, some);
        Assert.Equal([4L, 4, 48], subset.Tokens.shape);
        Assert.False(subset.Pooled.allclose(reference, 1e-3, 1e-3));
    }

    [Trait("Category", "Fixtures")]
    [FixtureFact]
    public void PatchDropoutOnlyActsInTraining()
    {
        using var fx = new TinyFixture("tiny-gelu");
        using var model = new ClipModel(fx.Config with { Vision = fx.Config.Vision with { PatchDropout = 0.5 } });
        ClipWeights.Load(model, fx.WeightsPath);
        using var _ = no_grad();
        model.train();
        using (var dropped = model.EncodeImageTokens(fx.Pixels))
            Assert.Equal([4L, 8, 48], dropped.Tokens.shape);
        model.eval();
        using var kept = model.EncodeImageTokens(fx.Pixels);
        Assert.Equal([4L, 16, 48], kept.Tokens.shape);
        using var image = model.EncodeImage(fx.Pixels);
        TensorAssert.Close(image, fx.IO["output.image_features"], 1e-4, 1e-4, "eval mode with patch dropout configured");
    }

    [Trait("Category", "Fixtures")]
    [FixtureFact]
    public void ShorterSequencesGiveTheSameFeatures()
    {
        // With the causal mask, positions up to the end-of-text token never see later ones, so cutting the
        // padding after it changes nothing. Rows 0, 1 and 3 end within 10 tokens.
        using var fx = new TinyFixture("tiny-gelu");
        using var model = fx.LoadModel();
        model.eval();
        using var _ = no_grad();
        using var rows = tensor(new long[] { 0, 1, 3 });
        using var shortTokens = fx.Tokens.index_select(0, rows).narrow(1, 0, 10).to(ScalarType.Int32);
        using var text = model.EncodeText(shortTokens);
        TensorAssert.Close(text, fx.IO["output.text_features"].index_select(0, rows), 1e-4, 1e-4, "10-token text features");

        using var tooLong = zeros(new long[] { 1, 17 }, ScalarType.Int64);
        Assert.Throws<ArgumentException>(() => model.EncodeText(tooLong));
        using var floats = zeros(1, 16);
        Assert.Throws<ArgumentException>(() => model.EncodeText(floats));
    }

    [Trait("Category", "Fixtures")]
    [FixtureFact]
    public void TextTokenOutputsPoolAtTheEndToken()
    {
        using var fx = new TinyFixture("tiny-gelu");
        using var model = fx.LoadModel();
        model.eval();
        using var _ = no_grad();
        using var output = model.EncodeTextTokens(fx.Tokens);
        Assert.Equal([4L, 16, 48], output.Tokens.shape);
        // Row 0 has 3 tokens: its end token is at position 2.
        TensorAssert.Close(output.Tokens[0, 2], output.Pooled[0], 1e-6, 0, "token at the end position");
        TensorAssert.Close(output.Pooled, fx.IO["output.text_features"], 1e-4, 1e-4, "pooled text");
    }

    [Fact]
    public void WrongPixelShapeIsAClearError()
    {
        using var model = new ClipModel(TinyConfigs.Micro);
        using var pixels = zeros(2, 3, 32, 32);
        var ex = Assert.Throws<ArgumentException>(() => model.EncodeImage(pixels));
        Assert.Contains("[N, 3, 16, 16]", ex.Message);
    }

    [Fact]
    public void NormalizedFeaturesHaveUnitNorm()
    {
        using var model = new ClipModel(TinyConfigs.Micro);
        using var _ = no_grad();
        using var pixels = randn(3, 3, 16, 16);
        using var tokens = tensor(new long[] { 3, 7, 49, 0, 0, 0, 0, 0, 5, 49, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 49 }, [3, 8]);
        using var result = model.forward(pixels, tokens);
        TensorAssert.Close(result.ImageFeatures.norm(1), ones(3), 1e-5, 0, "image norms");
        TensorAssert.Close(result.TextFeatures.norm(1), ones(3), 1e-5, 0, "text norms");
        // exp of the stored fp32 log(100/7): ulps of 14.3 (9.5e-7) from the exp kernel (vectorised per CPU) and the
        // stored log's rounding (6e-8 × 2.66 × 14.3 ≈ 2e-6): 1e-5.
        Approx.Equal(100 / 7.0, result.LogitScale.item<float>(), atol: 1e-5, rtol: 0, "exp(logit_scale)");
    }

    [Fact]
    public void FreshInitialisationFollowsOpenClip()
    {
        manual_seed(1234);
        using var model = new ClipModel(ClipPresets.Tiny);
        var p = model.named_parameters().ToDictionary(x => x.name, x => x.parameter);
        // A sample standard deviation of n draws has relative standard error 1/√(2n); the draws come from libtorch's
        // normal sampler, whose vectorised path differs between CPUs, so the test allows 5 standard errors (never
        // fixed decimal places, which a value near a rounding boundary fails). Initialising with twice or half the
        // std (a wrong width in the formula) misses by 50%, far more than 5/√(2n) (≤ 4% for these tensors).
        void Std(string name, double expected)
        {
            long n = p[name].numel();
            Approx.Equal(expected, p[name].std().item<float>(), atol: 0, rtol: 5 / Math.Sqrt(2.0 * n), $"std of {name} ({n} values)");
        }
        Std("token_embedding.weight", 0.02);
        Std("positional_embedding", 0.01);
        Std("text_projection", Math.Pow(128, -0.5));
        Std("visual.proj", Math.Pow(128, -0.5));
        Assert.Equal(Math.Log(1 / 0.07), model.LogitScale.item<float>(), 5);
        Assert.Equal(0, p["visual.transformer.resblocks.0.attn.in_proj_bias"].abs().max().item<float>());
        Assert.Equal(1, p["ln_final.weight"].min().item<float>());
    }

    [Fact]
    public void LogitBiasConfigAddsTheParameter()
    {
        using var model = new ClipModel(TinyConfigs.Micro with { InitLogitScale = Math.Log(10), InitLogitBias = -10 });
        Assert.Contains("logit_bias", model.state_dict().Keys);
        using var _ = no_grad();
        using var pixels = randn(2, 3, 16, 16);
        using var tokens = tensor(new long[] { 3, 49, 0, 0, 0, 0, 0, 0, 5, 6, 49, 0, 0, 0, 0, 0 }, [2, 8]);
        using var result = model.forward(pixels, tokens);
        Assert.Equal(-10f, result.LogitBias!.item<float>());
        using var logits = result.LogitsPerImage();
        using var expected = 10 * result.ImageFeatures.matmul(result.TextFeatures.t()) - 10;
        TensorAssert.Close(logits, expected, 1e-5, 1e-5, "logits with bias");
    }

    [Fact]
    public void ClampLogitScaleBoundsTheTemperature()
    {
        using var model = new ClipModel(TinyConfigs.Micro with { InitLogitScale = 7 });
        model.ClampLogitScale();
        Assert.Equal(Math.Log(100), model.LogitScale.item<float>(), 5);
    }

    [Fact]
    public void CustomImageTowerIsUsed()
    {
        var config = TinyConfigs.Micro;
        var tower = nn.Sequential(nn.Flatten(), nn.Linear(3 * 16 * 16, config.EmbedDim));
        using var model = new ClipModel(config, visual: tower);
        Assert.Contains("visual.1.weight", model.state_dict().Keys);
        using var _ = no_grad();
        using var pixels = randn(2, 3, 16, 16);
        using var features = model.EncodeImage(pixels);
        Assert.Equal([2L, 16], features.shape);
        var ex = Assert.Throws<NotSupportedException>(() => model.EncodeImageTokens(pixels));
        Assert.Contains("token-level", ex.Message);
    }

    [Trait("Category", "Fixtures")]
    [FixtureFact]
    public void SaveAndLoadRoundTrip()
    {
        using var fx = new TinyFixture("tiny-quickgelu");
        using var model = fx.LoadModel();
        var path = Path.Combine(Path.GetTempPath(), $"clip-{Guid.NewGuid():N}.safetensors");
        try
        {
            ClipWeights.Save(model, path);
            Assert.Equal(fx.Config, ClipWeights.ReadConfig(path));
            using var copy = new ClipModel(ClipWeights.ReadConfig(path)!);
            ClipWeights.Load(copy, path);
            var saved = copy.state_dict();
            foreach (var (name, value) in model.state_dict())
                Assert.True(value.eq(saved[name]).all().item<bool>(), name);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Trait("Category", "Fixtures")]
    [FixtureFact]
    public void Bf16FileLoadsIntoAnFp32Model()
    {
        using var fx = new TinyFixture("tiny-gelu");
        using var scope = NewDisposeScope();
        var bf16 = fx.Weights.ToDictionary(kv => kv.Key, kv => kv.Value.to(ScalarType.BFloat16));
        using var model = new ClipModel(fx.Config);
        ClipWeights.Load(model, bf16);
        Assert.Equal(ScalarType.Float32, model.DType);
        model.eval();
        using var _ = no_grad();
        using var text = model.EncodeText(fx.Tokens);
        Assert.True(nn.functional.cosine_similarity(text, fx.IO["output.text_features"], 1).min().item<float>() > 0.99);
    }
}

public class ClipModelLifetimeTests
{
    [Fact]
    public void ModelBuiltInsideADisposeScopeOutlivesIt()
    {
        ClipModel model;
        using (NewDisposeScope())
            model = new ClipModel(TinyConfigs.Micro).ToInferenceDType(ScalarType.BFloat16);
        using (model)
        {
            Assert.Equal(TinyConfigs.Micro.InitLogitScale, model.LogitScale.item<float>(), 5);
            Assert.All(model.parameters(), p => Assert.NotEqual(System.IntPtr.Zero, p.Handle));
            using var _ = no_grad();
            using var pixels = randn(1, 3, 16, 16);
            using var features = model.EncodeImage(pixels);
            Assert.Equal([1L, 16], features.shape);
        }
    }
}
