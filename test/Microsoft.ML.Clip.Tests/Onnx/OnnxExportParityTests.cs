using System.IO;
using Microsoft.ML.Clip.Modeling;
using Microsoft.ML.Clip.Onnx;
using Microsoft.ML.Clip.Tests.Modeling;
using Xunit;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace Microsoft.ML.Clip.Tests.Onnx;

/// <summary>
/// The exported encoders, run by ONNX Runtime on the CPU with full graph optimisation (its fusions of layer norm,
/// GELU and attention included), against the TorchSharp model on the same inputs.
/// </summary>
public class OnnxExportParityTests(ITestOutputHelper output)
{
    // |onnx − torch| ≤ 1e-4 + 1e-4·|torch| (fp32). Both compute the same fp32 arithmetic with other kernels and
    // summation orders (MKL/oneDNN against ONNX Runtime's MLAS, fused layer norm and GELU): at most a few ulps per
    // reduction, ~1e-6 on unit-scale embeddings of these towers. A wrong operation (GELU for QuickGELU, a missing layer
    // norm, BatchNorm in train mode, a transposed projection) errs by more than 1e-2.
    private const double Tol = 1e-4;

    [Trait("Category", "Fixtures")]
    [FixtureTheory]
    [InlineData("tiny-gelu")]
    [InlineData("tiny-quickgelu")]
    [InlineData("tiny-rn-quickgelu")]
    public void FixtureModelsMatchTorchSharpAndOpenClip(string name)
    {
        using var fx = new TinyFixture(name);
        using var model = fx.LoadModel();
        model.eval();
        var raw = new ClipOnnxExportOptions { NormalizeEmbeddings = false };
        using var image = OrtRunner.Open(Serialize(ClipOnnxExporter.ImageEncoder(model, raw)));
        using var text = OrtRunner.Open(Serialize(ClipOnnxExporter.TextEncoder(model, raw)));

        // The fixture batch against open_clip's own outputs, then random batches of 1 and 37 against TorchSharp.
        using var onnxImage = OrtRunner.Run(image, "pixel_values", fx.Pixels);
        using var onnxText = OrtRunner.Run(text, "input_ids", fx.Tokens);
        double e1 = TensorAssert.Close(onnxImage, fx.IO["output.image_features"], Tol, Tol, $"{name} image vs open_clip");
        double e2 = TensorAssert.Close(onnxText, fx.IO["output.text_features"], Tol, Tol, $"{name} text vs open_clip");
        output.WriteLine($"{name}: max |Δ| against open_clip image {e1:E2}, text {e2:E2}");
        foreach (int batch in new[] { 1, 37 })
            CompareRandomBatch(model, image, text, batch, raw.NormalizeEmbeddings, name);
    }

    private void CompareRandomBatch(ClipModel model, Microsoft.ML.OnnxRuntime.InferenceSession image, Microsoft.ML.OnnxRuntime.InferenceSession text,
        int batch, bool normalize, string name)
    {
        manual_seed(batch);
        int size = model.Config.Vision.ImageSize;
        using var pixels = randn(batch, 3, size, size);
        using var tokens = OrtRunner.RandomTokens(model.Config, batch, seed: batch);
        using var noGrad = no_grad();
        using var torchImage = model.EncodeImage(pixels, normalize);
        using var torchText = model.EncodeText(tokens, normalize);
        using var onnxImage = OrtRunner.Run(image, "pixel_values", pixels);
        using var onnxText = OrtRunner.Run(text, "input_ids", tokens);
        double e1 = TensorAssert.Close(onnxImage, torchImage, Tol, Tol, $"{name} image, batch {batch}");
        double e2 = TensorAssert.Close(onnxText, torchText, Tol, Tol, $"{name} text, batch {batch}");
        output.WriteLine($"{name} batch {batch}: max |Δ| image {e1:E2}, text {e2:E2}");
    }

    internal static byte[] Serialize(OnnxModelBuilder builder)
    {
        using var stream = new MemoryStream();
        builder.WriteTo(stream, "test");
        return stream.ToArray();
    }
}
