using System.IO;
using System.Linq;
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

    // ViT-B-32, RN50 and ViT-L-14 with open_clip's random initialisation, exported to files as a deployment would.
    // ViT-L-14's image encoder holds 304 M fp32 parameters (1.2 GB), the largest graph the exporter writes below
    // protobuf's 2 GiB per file; it runs at batch 2 only, to keep the test's time and memory down (the dynamic batch
    // dimension is proven at 1 and 37 on the others, and its ops are ViT-B-32's).
    [Trait("Category", "Slow")]
    [Theory]
    [InlineData("ViT-B-32", new[] { 1, 37 })]
    [InlineData("RN50", new[] { 1, 37 })]
    [InlineData("ViT-L-14", new[] { 2 })]
    public void PresetsExportAndMatchTorchSharp(string preset, int[] batches)
    {
        manual_seed(11);
        using var model = new ClipModel(ClipPresets.Get(preset));
        model.eval();
        using var folder = new TempDirectory();
        var raw = new ClipOnnxExportOptions { NormalizeEmbeddings = false };
        string imagePath = WriteFile(ClipOnnxExporter.ImageEncoder(model, raw), folder.File("image.onnx"));
        string textPath = WriteFile(ClipOnnxExporter.TextEncoder(model, raw), folder.File("text.onnx"));
        long imageBytes = new FileInfo(imagePath).Length;
        output.WriteLine($"{preset} files: image {imageBytes / 1e6:F0} MB, text {new FileInfo(textPath).Length / 1e6:F0} MB");
        // The image file holds its tower's fp32 weights (4 bytes a parameter), BatchNorm statistics and a small graph.
        long imageParameters = model.Visual.parameters().Sum(p => p.numel());
        Assert.InRange(imageBytes, 4 * imageParameters, 4 * imageParameters + 10_000_000);
        using var image = OrtRunner.Open(imagePath);
        using var text = OrtRunner.Open(textPath);
        foreach (int batch in batches)
            CompareRandomBatch(model, image, text, batch, normalize: false, preset);
    }

    [Trait("Category", "Slow")]
    [Fact]
    public void HalfPrecisionVitB32AgreesWithFloat32()
    {
        manual_seed(12);
        using var model = new ClipModel(ClipPresets.VitB32);
        model.eval();
        using var folder = new TempDirectory();
        var half = new ClipOnnxExportOptions { Precision = ClipOnnxPrecision.Float16 };
        using var image = OrtRunner.Open(WriteFile(ClipOnnxExporter.ImageEncoder(model, half), folder.File("image.onnx")));
        using var text = OrtRunner.Open(WriteFile(ClipOnnxExporter.TextEncoder(model, half), folder.File("text.onnx")));
        AssertHalfPrecisionAgrees(model, image, text, batch: 8, seed: 12, "ViT-B-32");
    }

    internal static string WriteFile(OnnxModelBuilder builder, string path)
    {
        using (var stream = File.Create(path)) builder.WriteTo(stream, "test");
        return path;
    }

    // fp16: weights rounded to 11 significant bits (relative error ≤ 2^-11 ≈ 4.9e-4) and every matrix product's
    // output rounded again, through all layers; layer norms and softmaxes stay fp32. The embeddings then point where
    // the fp32 ones do up to a small angle: each row's cosine to the fp32 embedding must be ≥ 0.999 (an angle of
    // 2.6°; bf16, with 3 bits fewer, gives ≥ 0.9999 on ViT-B-32 in the benchmark). A wrong cast (fp16 softmax
    // overflowing, a layer norm in fp16) or a wrong layer gives cosines far below that, or NaN.
    private const double HalfMinCosine = 0.999;

    [Trait("Category", "Fixtures")]
    [FixtureTheory]
    [InlineData("tiny-gelu")]
    [InlineData("tiny-rn-quickgelu")]
    public void HalfPrecisionEncodersAgreeWithFloat32(string name)
    {
        using var fx = new TinyFixture(name);
        using var model = fx.LoadModel();
        model.eval();
        var half = new ClipOnnxExportOptions { Precision = ClipOnnxPrecision.Float16 };
        using var image = OrtRunner.Open(Serialize(ClipOnnxExporter.ImageEncoder(model, half)));
        using var text = OrtRunner.Open(Serialize(ClipOnnxExporter.TextEncoder(model, half)));
        AssertHalfPrecisionAgrees(model, image, text, batch: 37, seed: 3, name);
    }

    /// <summary>fp16 encoders against the fp32 model on a random batch: every row's cosine ≥ <see cref="HalfMinCosine"/>.</summary>
    private void AssertHalfPrecisionAgrees(ClipModel model, Microsoft.ML.OnnxRuntime.InferenceSession image, Microsoft.ML.OnnxRuntime.InferenceSession text,
        int batch, int seed, string name)
    {
        manual_seed(seed);
        int size = model.Config.Vision.ImageSize;
        using var pixels = randn(batch, 3, size, size);
        using var tokens = OrtRunner.RandomTokens(model.Config, batch, seed: seed);
        using var noGrad = no_grad();
        double imageCosine = MinCosine(OrtRunner.Run(image, "pixel_values", pixels), model.EncodeImage(pixels, normalize: true));
        double textCosine = MinCosine(OrtRunner.Run(text, "input_ids", tokens), model.EncodeText(tokens, normalize: true));
        output.WriteLine($"{name} fp16: min cosine to fp32, image {imageCosine:F6}, text {textCosine:F6}");
        Assert.True(imageCosine >= HalfMinCosine, $"image: min cosine {imageCosine}");
        Assert.True(textCosine >= HalfMinCosine, $"text: min cosine {textCosine}");
    }

    /// <summary>The smallest row-wise cosine of two [N, D] embeddings (the first already normalised by the export).</summary>
    internal static double MinCosine(Tensor onnx, Tensor reference)
    {
        using (onnx)
        using (reference)
        {
            using var norms = onnx.norm(1);
            Assert.True((norms - 1).abs().max().item<float>() < 1e-5f, "the exported embeddings are not unit vectors");
            using var cosine = (onnx * nn.functional.normalize(reference, dim: 1)).sum(1);
            return cosine.min().item<float>();
        }
    }

    internal static byte[] Serialize(OnnxModelBuilder builder)
    {
        using var stream = new MemoryStream();
        builder.WriteTo(stream, "test");
        return stream.ToArray();
    }
}
