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
