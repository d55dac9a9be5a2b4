using System;
using System.Linq;
using Microsoft.ML.Clip.Modeling;
using Xunit;
using Xunit.Abstractions;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace Microsoft.ML.Clip.Tests.Modeling;

public class InferenceDTypeTests(ITestOutputHelper output)
{
    [Trait("Category", "Fixtures")]
    [FixtureTheory]
    [InlineData("tiny-gelu")]
    [InlineData("tiny-quickgelu")]
    public void Bf16EmbeddingsAreCloseToFp32(string name)
    {
        using var fx = new TinyFixture(name);
        using var fp32 = fx.LoadModel();
        using var bf16 = fx.LoadModel().ToInferenceDType(ScalarType.BFloat16);
        fp32.eval();
        bf16.eval();
        using var _ = no_grad();

        Assert.Equal(ScalarType.BFloat16, bf16.DType);
        // LayerNorms and the logit scale stay fp32, as open_clip's low-precision conversion.
        var dtypes = bf16.named_parameters().ToDictionary(p => p.name, p => p.parameter.dtype);
        Assert.Equal(ScalarType.Float32, dtypes["logit_scale"]);
        Assert.Equal(ScalarType.Float32, dtypes["visual.ln_post.weight"]);
        Assert.Equal(ScalarType.Float32, dtypes["transformer.resblocks.0.ln_1.bias"]);
        Assert.Equal(ScalarType.BFloat16, dtypes["visual.transformer.resblocks.0.attn.in_proj_weight"]);
        Assert.Equal(ScalarType.BFloat16, dtypes["token_embedding.weight"]);

        // fp32 inputs are cast at the tower entry; outputs come back as fp32.
        using var image32 = fp32.EncodeImage(fx.Pixels);
        using var text32 = fp32.EncodeText(fx.Tokens);
        using var image16 = bf16.EncodeImage(fx.Pixels);
        using var text16 = bf16.EncodeText(fx.Tokens);
        Assert.Equal(ScalarType.Float32, image16.dtype);
        Assert.Equal(ScalarType.Float32, text16.dtype);

        double imageCos = F.cosine_similarity(image16, image32, 1).min().item<float>();
        double textCos = F.cosine_similarity(text16, text32, 1).min().item<float>();
        output.WriteLine($"{name}: min cosine(bf16, fp32) image {imageCos:F5}, text {textCos:F5}");
        Assert.True(imageCos >= 0.99, $"image cosine {imageCos}");
        Assert.True(textCos >= 0.99, $"text cosine {textCos}");

        using var result = bf16.forward(fx.Pixels, fx.Tokens);
        TensorAssert.Close(result.LogitScale.reshape(1), fx.IO["output.logit_scale_exp"], 1e-5, 1e-6, "bf16 model logit scale");
    }

    [Fact]
    public void Bf16TowersKeepTheirResidualStreamInFloat32()
    {
        // 24 blocks per tower, so that the stream's rounding has depth to compound over. Each tower's mean 1 − cosine
        // between bf16 and fp32 embeddings (random weights and inputs, seed 0), measured on a Zen 4 (AVX-512 BF16): with the
        // fp32 stream 1.8e-5 (image) and 3.4e-5 (text); with the stream summed in bf16, as before, 7.9e-5 and 8.0e-5. The
        // bound 5.5e-5 sits between them; the products round to bf16 either way (unit roundoff 2⁻⁸ ≈ 3.9e-3 per element,
        // averaging out in a 128-wide embedding), so CPUs differ only in how they accumulate in fp32, far below the gap.
        var config = new ClipConfig
        {
            EmbedDim = 128,
            Vision = new VisionConfig { ImageSize = 64, PatchSize = 8, Layers = 24, Width = 128, HeadWidth = 32 },
            Text = new TextConfig { ContextLength = 32, VocabSize = 1000, Width = 128, Heads = 4, Layers = 24 },
        };
        using var scope = NewDisposeScope();
        manual_seed(0);
        using var fp32 = new ClipModel(config);
        using var bf16 = fp32.Copy().ToInferenceDType(ScalarType.BFloat16);
        fp32.eval();
        bf16.eval();
        using var _ = no_grad();
        var pixels = randn(64, 3, 64, 64);
        var tokens = randint(1, 998, [64, 32]);
        tokens[TensorIndex.Colon, 20] = 999;
        double image = 1 - F.cosine_similarity(bf16.EncodeImage(pixels), fp32.EncodeImage(pixels), 1).mean().item<float>();
        double text = 1 - F.cosine_similarity(bf16.EncodeText(tokens), fp32.EncodeText(tokens), 1).mean().item<float>();
        output.WriteLine($"mean 1 - cosine(bf16, fp32): image {image:E2}, text {text:E2}");
        Assert.True(image < 5.5e-5, $"image: mean 1 - cosine {image:E2}");
        Assert.True(text < 5.5e-5, $"text: mean 1 - cosine {text:E2}");
    }

    [Fact]
    public void MixedDtypeProductThrowsInsteadOfAborting()
    {
        using var a = randn(2, 3);
        using var b = randn(3, 2).to(ScalarType.BFloat16);
        Assert.Throws<InvalidOperationException>(() => SafeMatMul.MatMul(a, b, "test"));
    }

    [Fact]
    public void UnsupportedInferenceDTypeIsRejected()
    {
        using var model = new ClipModel(TinyConfigs.Micro);
        Assert.Throws<ArgumentException>(() => model.ToInferenceDType(ScalarType.Int32));
    }
}
