using Microsoft.ML.Clip.Modeling;
using static TorchSharp.torch;

namespace Microsoft.ML.Clip.Benchmarks;

/// <summary>
/// ViT-B-16-SigLIP and EVA02-B-16 (random weights, fp32, eval mode) image and text embedding throughput: batch 32,
/// 224 px images, texts at the full context (64 SigLIP tokens, 77 CLIP tokens), one model in memory at a time.
/// </summary>
internal static class FamilyEmbeddingBenchmark
{
    public static void Run(int batch = 32, int repetitions = 3)
    {
        foreach (var (name, preset) in new[] { ("vit-b-16-siglip", ClipPresets.VitB16SigLip), ("eva02-b-16", ClipPresets.Eva02B16) })
        {
            manual_seed(0);
            using var model = new ClipModel(preset);
            model.eval();
            var text = preset.Text;
            using var pixels = randn(batch, 3, preset.Vision.ImageSize, preset.Vision.ImageSize);
            using var tokens = randint(1, text.VocabSize - 1, new long[] { batch, text.ContextLength });
            tokens[TensorIndex.Colon, 20] = text.VocabSize - 1; // CLIP's end-of-text (largest id) at position 20; SigLIP pools the last position
            EmbeddingBenchmark.MeasureTorch(name, "fp32", model, pixels, tokens, repetitions);
        }
    }
}
