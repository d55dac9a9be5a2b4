using System;
using System.Linq;
using Microsoft.ML.Clip.Diagnostics;
using Microsoft.ML.Clip.Modeling;
using Microsoft.ML.Clip.Training;
using Microsoft.ML.Clip.Training.Objectives;
using static TorchSharp.torch;

namespace Microsoft.ML.Clip.Benchmarks;

/// <summary>
/// The "train-small" step (issue: CPU performance): open_clip-shaped CLIP (embed 256; ViT 96 px, patch 16,
/// 6 × 256, head width 64; text context 32, 6 × 256, 4 heads), batch 64 of random pixels and tokens, CLIP
/// loss, AdamW (lr 1e-4, weight decay 0.2), one full step per batch — in fp32 and in bf16 mixed precision —
/// and the fp32 / bf16 matrix-product rates measured in the same run, with the step's model FLOP/s.
/// </summary>
internal static class TrainingBenchmark
{
    public static void Run(int batch = 64, int repetitions = 3)
    {
        // Without bf16 instructions libtorch 2.10 computes bf16 products in its single-threaded reference loop (4 % of
        // fp32's rate on a 512² product on an AVX2 Zen 3): a 2048² product alone takes minutes, so the bf16 cases are skipped.
        bool nativeBf16 = CpuInfo.Detect().HasFastBFloat16;
        double fp32Rate = MatmulRate(ScalarType.Float32), bf16Rate = nativeBf16 ? MatmulRate(ScalarType.BFloat16) : double.NaN;
        Measure.Report("matmul-2048-fp32", ("gflops", fp32Rate / 1e9));
        if (nativeBf16) Measure.Report("matmul-2048-bf16", ("gflops", bf16Rate / 1e9));
        else Measure.Report("matmul-2048-bf16", ("skipped", "no native bf16 on this CPU"));

        var config = ClipPresets.Small;
        double stepFlops = 3 * ForwardFlops(config, batch); // backward ≈ 2 × forward
        foreach (var precision in new[] { TrainingPrecision.Float32, TrainingPrecision.BFloat16Mixed })
        {
            if (precision == TrainingPrecision.BFloat16Mixed && !nativeBf16)
            {
                Measure.Report("train-small-bf16-mixed", ("skipped", "no native bf16 on this CPU"));
                continue;
            }
            manual_seed(0);
            using var model = new ClipModel(config);
            using var trainer = new ClipTrainer(model, new ContrastiveObjective(),
                new ClipTrainerOptions { LearningRate = 1e-4, WeightDecay = 0.2, WarmupSteps = 1, Precision = precision }, 1000);
            using var pixels = randn(batch, 3, 96, 96);
            using var tokens = randint(1, 49000, new long[] { batch, 32 });
            using var scope = NewDisposeScope();
            tokens[TensorIndex.Colon, 20] = 49407;
            using var data = new TrainingBatch(pixels, tokens);
            double seconds = Measure.MedianSeconds(() => trainer.Step(data), warmup: 2, repetitions: repetitions);
            string name = precision == TrainingPrecision.Float32 ? "fp32" : "bf16-mixed";
            Measure.Report($"train-small-{name}", ("samples_per_s", batch / seconds), ("batch", batch),
                ("model_gflops_per_s", stepFlops / seconds / 1e9),
                ("fraction_of_matmul_rate", stepFlops / seconds / (precision == TrainingPrecision.Float32 ? fp32Rate : bf16Rate)));
        }
    }

    private static double MatmulRate(ScalarType dtype, int n = 2048)
    {
        using var scope = NewDisposeScope();
        var a = randn(n, n).to(dtype);
        var b = randn(n, n).to(dtype);
        double seconds = Measure.MedianSeconds(() => { using var c = a.mm(b); }, warmup: 2, repetitions: 5);
        return 2.0 * n * n * n / seconds;
    }

    /// <summary>Multiply-adds × 2 of one forward pass: projections, MLPs, attention products, patch embedding, heads.</summary>
    internal static double ForwardFlops(ClipConfig c, int batch)
    {
        static double Tower(double tokens, double width, int layers, double mlpRatio) =>
            layers * (2 * tokens * (4 * width * width + 2 * mlpRatio * width * width) + 2 * 2 * tokens * tokens * width);
        var v = c.Vision;
        double patches = (double)(v.ImageSize / v.PatchSize) * (v.ImageSize / v.PatchSize);
        double vision = Tower(patches + 1, v.Width, v.Layers, v.MlpRatio) + 2 * patches * 3 * v.PatchSize * v.PatchSize * v.Width + 2 * v.Width * c.EmbedDim;
        var t = c.Text;
        double text = Tower(t.ContextLength, t.Width, t.Layers, t.MlpRatio) + 2 * t.Width * c.EmbedDim;
        return batch * (vision + text);
    }
}
