using System;
using System.IO;
using System.Linq;
using Microsoft.ML.Clip.Modeling;
using Microsoft.ML.Clip.Onnx;
using Microsoft.ML.Clip.Tokenization;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using static TorchSharp.torch;
using Tensor = TorchSharp.torch.Tensor;

namespace Microsoft.ML.Clip.Benchmarks;

/// <summary>
/// ViT-B-32 (random weights) image and text embedding throughput: ONNX Runtime on the CPU (fp32 export, full graph
/// optimisation, intra-op threads = cores) beside TorchSharp fp32 and bf16, in one run on the same inputs, with the
/// largest difference between ONNX Runtime's and TorchSharp's fp32 embeddings. With a CUDA device and ONNX Runtime's
/// CUDA provider available the same export is also measured there; otherwise a line says it was skipped.
/// </summary>
internal static class OnnxRuntimeBenchmark
{
    public static void Run(int imageBatch = 16, int textBatch = 32, int repetitions = 3)
    {
        var (fp32, bf16, pixels, tokens) = EmbeddingBenchmark.VitB32(imageBatch, textBatch);
        using var disposeFp32 = fp32;
        using var disposeBf16 = bf16;
        using var disposePixels = pixels;
        using var disposeTokens = tokens;

        string folder = Path.Combine(Path.GetTempPath(), $"clip-onnx-bench-{Guid.NewGuid():N}");
        Directory.CreateDirectory(folder);
        try
        {
            // Any tokenizer within the model's vocabulary will do: the benchmark feeds token ids.
            var tokenizer = ClipBpeTrainer.Train(["a photo of a cat", "a photo of a dog"]);
            var manifest = new ClipModelBundle(fp32, tokenizer).ExportOnnx(folder, new ClipOnnxExportOptions { NormalizeEmbeddings = false });
            string imagePath = Path.Combine(folder, manifest.ImageEncoder), textPath = Path.Combine(folder, manifest.TextEncoder);
            using var cpu = new SessionOptions { GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL, IntraOpNumThreads = Environment.ProcessorCount };
            MeasureOrt("ort-cpu-fp32", cpu, imagePath, textPath, fp32, pixels, tokens, repetitions);
            MeasureCudaIfPresent(imagePath, textPath, fp32, pixels, tokens, repetitions);
            // bf16 last: without native bf16 units (AVX2 machines) libtorch emulates it and it is the slowest.
            foreach (var (name, model) in new[] { ("torchsharp-fp32", fp32), ("torchsharp-bf16", bf16) })
                EmbeddingBenchmark.MeasureTorch("vit-b-32", name, model, pixels, tokens, repetitions);
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    private static void MeasureOrt(string name, SessionOptions options, string imagePath, string textPath, ClipModel reference, Tensor pixels, Tensor tokens, int repetitions)
    {
        using var image = new InferenceSession(imagePath, options);
        using var text = new InferenceSession(textPath, options);
        var pixelInput = Input("pixel_values", pixels.data<float>().ToArray(), pixels.shape);
        var tokenInput = Input("input_ids", tokens.data<long>().ToArray(), tokens.shape);
        double imageSeconds = Measure.MedianSeconds(() => { using var r = image.Run([pixelInput]); }, repetitions: repetitions);
        Measure.Report($"vit-b-32-image-embedding-{name}", ("images_per_s", pixels.shape[0] / imageSeconds), ("batch", pixels.shape[0]), ("threads", Environment.ProcessorCount));
        double textSeconds = Measure.MedianSeconds(() => { using var r = text.Run([tokenInput]); }, repetitions: repetitions);
        Measure.Report($"vit-b-32-text-embedding-{name}", ("texts_per_s", tokens.shape[0] / textSeconds), ("batch", tokens.shape[0]), ("threads", Environment.ProcessorCount));
        using var noGrad = no_grad();
        // As text: Measure.Report rounds numbers to 4 decimals, which would show these ~1e-6 differences as 0.
        Measure.Report($"vit-b-32-{name}-vs-torchsharp-fp32", ("max_abs_diff_image", MaxDiff(image, pixelInput, reference.EncodeImage(pixels)).ToString("E2")),
            ("max_abs_diff_text", MaxDiff(text, tokenInput, reference.EncodeText(tokens)).ToString("E2")));
    }

    /// <summary>The CUDA provider needs Microsoft.ML.OnnxRuntime.Gpu and a CUDA device; the CPU package lacks it, so this reports a skip.</summary>
    private static void MeasureCudaIfPresent(string imagePath, string textPath, ClipModel reference, Tensor pixels, Tensor tokens, int repetitions)
    {
        SessionOptions cuda;
        try
        {
            cuda = SessionOptions.MakeSessionOptionWithCudaProvider(0);
        }
        catch (Exception ex) when (ex is OnnxRuntimeException or EntryPointNotFoundException or DllNotFoundException)
        {
            Measure.Report("vit-b-32-ort-cuda-fp32", ("skipped", $"no CUDA execution provider: {ex.Message.Split('\n')[0]}"));
            return;
        }
        using (cuda) MeasureOrt("ort-cuda-fp32", cuda, imagePath, textPath, reference, pixels, tokens, repetitions);
    }

    private static NamedOnnxValue Input<T>(string name, T[] values, long[] shape) =>
        NamedOnnxValue.CreateFromTensor(name, new DenseTensor<T>(values, shape.Select(d => (int)d).ToArray()));

    private static double MaxDiff(InferenceSession session, NamedOnnxValue input, Tensor expected)
    {
        using (expected)
        using (var results = session.Run([input]))
        {
            var got = results.First().AsTensor<float>().ToArray();
            var want = expected.contiguous().data<float>().ToArray();
            return got.Zip(want, (a, b) => (double)Math.Abs(a - b)).Max();
        }
    }
}
