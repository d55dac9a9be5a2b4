using System;
using Microsoft.ML.Clip.Modeling;
using static TorchSharp.torch;

namespace Microsoft.ML.Clip.Benchmarks;

/// <summary>
/// ViT-B-32 (random weights) image and text embedding throughput on the CPU in fp32 and bf16, with the
/// cosine similarity between the two precisions' embeddings of the same inputs.
/// </summary>
internal static class EmbeddingBenchmark
{
    public static void Run(int imageBatch = 32, int textBatch = 64, int repetitions = 3)
    {
        var (fp32, bf16, pixels, tokens) = VitB32(imageBatch, textBatch);
        using var disposeFp32 = fp32;
        using var disposeBf16 = bf16;
        using var disposePixels = pixels;
        using var disposeTokens = tokens;
        foreach (var (name, model) in new[] { ("fp32", fp32), ("bf16", bf16) })
            MeasureTorch("vit-b-32", name, model, pixels, tokens, repetitions);

        using (no_grad())
        {
            using var a = fp32.EncodeImage(pixels, normalize: true);
            using var b = bf16.EncodeImage(pixels, normalize: true);
            using var c = fp32.EncodeText(tokens, normalize: true);
            using var d = bf16.EncodeText(tokens, normalize: true);
            double imageCosine = (a * b).sum(1).min().item<float>();
            double textCosine = (c * d).sum(1).min().item<float>();
            // As text with 6 decimals: Measure.Report's 4-decimal rounding would show 0.99985 as 0.9999.
            Measure.Report("vit-b-32-bf16-vs-fp32-cosine", ("min_image_cosine", imageCosine.ToString("F6")), ("min_text_cosine", textCosine.ToString("F6")));
        }
    }

    /// <summary>ViT-B-32 with random weights in fp32 and a bf16 copy (eval mode), random pixels and token ids
    /// (end-of-text at position 20); the caller disposes all four.</summary>
    internal static (ClipModel Fp32, ClipModel Bf16, Tensor Pixels, Tensor Tokens) VitB32(int imageBatch, int textBatch)
    {
        manual_seed(0);
        var fp32 = new ClipModel(ClipPresets.VitB32);
        fp32.eval();
        var bf16 = fp32.Copy();
        bf16.eval();
        bf16.ToInferenceDType(ScalarType.BFloat16);
        var pixels = randn(imageBatch, 3, 224, 224);
        var tokens = randint(1, 49000, new long[] { textBatch, 77 });
        tokens[TensorIndex.Colon, 20] = 49407; // end-of-text token (largest id) at position 20
        return (fp32, bf16, pixels, tokens);
    }

    /// <summary>TorchSharp image and text embedding throughput of <paramref name="model"/>, one JSON line each
    /// (<c>{modelName}-image-embedding-{precision}</c>, <c>{modelName}-text-embedding-{precision}</c>).</summary>
    internal static void MeasureTorch(string modelName, string precision, ClipModel model, Tensor pixels, Tensor tokens, int repetitions)
    {
        double imageSeconds = Measure.MedianSeconds(() => { using var _ = no_grad(); using var e = model.EncodeImage(pixels); }, repetitions: repetitions);
        Measure.Report($"{modelName}-image-embedding-{precision}", ("images_per_s", pixels.shape[0] / imageSeconds), ("batch", pixels.shape[0]), ("threads", get_num_threads()));
        double textSeconds = Measure.MedianSeconds(() => { using var _ = no_grad(); using var e = model.EncodeText(tokens); }, repetitions: repetitions);
        Measure.Report($"{modelName}-text-embedding-{precision}", ("texts_per_s", tokens.shape[0] / textSeconds), ("batch", tokens.shape[0]), ("threads", get_num_threads()));
    }
}
