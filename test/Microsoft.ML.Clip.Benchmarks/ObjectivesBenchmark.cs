using System;
using Microsoft.ML.Clip.Diagnostics;
using Microsoft.ML.Clip.Modeling;
using Microsoft.ML.Clip.TestCommon;
using Microsoft.ML.Clip.Training;
using Microsoft.ML.Clip.Training.Objectives;
using Microsoft.ML.Clip.Training.Objectives.Flip;
using static TorchSharp.torch;

namespace Microsoft.ML.Clip.Benchmarks;

/// <summary>
/// Training-step throughput of every objective on one small config, and FLIP's whole-step speed-up at mask
/// ratios 0.5 and 0.75 over no masking on an image-heavy config, beside the ratio of step FLOPs — in fp32 and, on CPUs
/// with bf16 instructions, in bf16 mixed precision.
/// </summary>
internal static class ObjectivesBenchmark
{
    private static readonly ClipConfig SmallConfig = new()
    {
        EmbedDim = 128,
        Vision = new VisionConfig { ImageSize = 64, PatchSize = 8, Layers = 4, Width = 128, HeadWidth = 32 },
        Text = new TextConfig { ContextLength = 32, VocabSize = 4096, Width = 128, Heads = 4, Layers = 4 },
    };

    // Image-heavy: 144 patches through 6 × 256 layers against a 2-layer text tower.
    private static readonly ClipConfig ImageHeavy = new()
    {
        EmbedDim = 256,
        Vision = new VisionConfig { ImageSize = 96, PatchSize = 8, Layers = 6, Width = 256, HeadWidth = 64 },
        Text = new TextConfig { ContextLength = 16, VocabSize = 4096, Width = 128, Heads = 4, Layers = 2 },
    };

    public static void Run(int batch = 32)
    {
        foreach (var name in AllObjectives.Names) // FLIP masking half of the patches
        {
            double seconds = StepSeconds(SmallConfig, AllObjectives.Create(name, wenLanQueueSize: batch * 8), batch);
            Measure.Report($"objective-step-{name}", ("samples_per_s", batch / seconds), ("batch", batch));
        }

        FlipSpeedUps(TrainingPrecision.Float32, batch);
        if (CpuInfo.Detect().HasFastBFloat16) FlipSpeedUps(TrainingPrecision.BFloat16Mixed, batch);
        else Measure.Report("flip-image-heavy-bf16-mixed", ("skipped", "no native bf16 on this CPU"));
    }

    /// <summary>FLIP's whole-step speed-up at mask ratios 0.5 and 0.75 on the image-heavy config, in one precision.</summary>
    private static void FlipSpeedUps(TrainingPrecision precision, int batch)
    {
        string suffix = precision == TrainingPrecision.Float32 ? "" : "-bf16-mixed";
        double full = StepSeconds(ImageHeavy, new ContrastiveObjective(), batch, precision);
        Measure.Report($"flip-image-heavy-no-mask{suffix}", ("samples_per_s", batch / full), ("batch", batch));
        foreach (double ratio in new[] { 0.5, 0.75 })
        {
            double masked = StepSeconds(ImageHeavy, new FlipObjective(new FlipOptions { MaskRatio = ratio }), batch, precision);
            Measure.Report($"flip-image-heavy-mask-{ratio:0.##}{suffix}", ("samples_per_s", batch / masked), ("speedup", full / masked),
                ("step_flop_ratio", StepFlops(ImageHeavy, 0) / StepFlops(ImageHeavy, ratio)));
        }
    }

    private static double StepSeconds(ClipConfig config, ClipObjective objective, int batch, TrainingPrecision precision = TrainingPrecision.Float32)
    {
        manual_seed(0);
        using var model = new ClipModel(objective.PrepareArchitecture(config));
        using var trainer = new ClipTrainer(model, objective, new ClipTrainerOptions { LearningRate = 1e-4, WarmupSteps = 1, Precision = precision }, 1000);
        using var pixels = randn(batch, 3, config.Vision.ImageSize, config.Vision.ImageSize);
        using var tokens = randint(1, config.Text.VocabSize - 3, new long[] { batch, config.Text.ContextLength });
        using (NewDisposeScope())
            tokens[TensorIndex.Colon, config.Text.ContextLength / 2] = config.Text.VocabSize - 1;
        using var data = new TrainingBatch(pixels, tokens);
        return Measure.MedianSeconds(() => trainer.Step(data), warmup: 2, repetitions: 3);
    }

    /// <summary>Forward FLOPs of the image-heavy step with a fraction of patches dropped (× 3 for the backward pass cancels in ratios).</summary>
    private static double StepFlops(ClipConfig c, double maskRatio)
    {
        static double Tower(double tokens, double width, int layers, double mlp) =>
            layers * (2 * tokens * (4 * width * width + 2 * mlp * width * width) + 4 * tokens * tokens * width);
        var v = c.Vision;
        double patches = (double)(v.ImageSize / v.PatchSize) * (v.ImageSize / v.PatchSize);
        double kept = Math.Round((1 - maskRatio) * patches);
        double embed = 2 * patches * 3 * v.PatchSize * v.PatchSize * v.Width; // the patch convolution sees every patch
        double vision = embed + Tower(kept + 1, v.Width, v.Layers, v.MlpRatio);
        double text = Tower(c.Text.ContextLength, c.Text.Width, c.Text.Layers, c.Text.MlpRatio);
        return vision + text;
    }
}
