using System;
using System.Diagnostics;
using System.IO;
using System.Linq;
using Microsoft.ML.Clip.Diagnostics;
using Microsoft.ML.Clip.Modeling;
using Microsoft.ML.Clip.Training;
using Microsoft.ML.Clip.Training.Objectives;
using static TorchSharp.torch;

namespace Microsoft.ML.Clip.Benchmarks;

/// <summary>
/// ViT-B-32 training (224 px, context 77, both towers, CLIP loss, AdamW): samples/s, model FLOP/s and the peak
/// resident memory of the process, for each memory setting — plain, activation checkpointing of both towers, and
/// checkpointing with micro-batches at a 4× larger batch. Each case runs in its own process, so a peak is that
/// case's alone. bf16 mixed precision runs only where the CPU computes bf16 natively (emulated bf16 is slower than
/// fp32 and would say nothing about the goal).
/// </summary>
internal static class VitB32TrainingBenchmark
{
    private const string CaseArgument = "vit-b-32-training-case";

    private static readonly (string Name, TrainingPrecision Precision, CheckpointedTowers Towers, int Batch, int? Micro)[] Cases =
    {
        ("fp32", TrainingPrecision.Float32, CheckpointedTowers.None, 128, null),
        ("fp32-checkpointed", TrainingPrecision.Float32, CheckpointedTowers.Both, 128, null),
        ("fp32-checkpointed-batch512-micro128", TrainingPrecision.Float32, CheckpointedTowers.Both, 512, 128),
        ("bf16-mixed", TrainingPrecision.BFloat16Mixed, CheckpointedTowers.None, 128, null),
        ("bf16-mixed-checkpointed", TrainingPrecision.BFloat16Mixed, CheckpointedTowers.Both, 128, null),
    };

    /// <summary>Runs every case in a child process (steps: timed steps after one warm-up step).</summary>
    public static void Run(int steps = 1)
    {
        bool nativeBf16 = CpuInfo.Detect().HasFastBFloat16;
        foreach (var c in Cases)
        {
            if (c.Precision == TrainingPrecision.BFloat16Mixed && !nativeBf16)
            {
                Measure.Report($"vit-b-32-train-{c.Name}", ("skipped", "no native bf16 on this CPU (emulated bf16 is slower than fp32)"));
                continue;
            }
            var start = new ProcessStartInfo("dotnet") { UseShellExecute = false };
            foreach (var a in new[] { typeof(VitB32TrainingBenchmark).Assembly.Location, CaseArgument, c.Name, steps.ToString() }) start.ArgumentList.Add(a);
            using var child = Process.Start(start)!;
            child.WaitForExit();
            if (child.ExitCode != 0) Measure.Report($"vit-b-32-train-{c.Name}", ("failed", $"exit code {child.ExitCode}"));
        }
    }

    /// <summary>The child process's entry: <c>vit-b-32-training-case NAME STEPS</c>.</summary>
    public static bool TryRunCase(string[] args)
    {
        if (args is not [CaseArgument, var name, var stepsText]) return false;
        var c = Cases.Single(x => x.Name == name);
        int steps = int.Parse(stepsText);
        var config = ClipPresets.VitB32;
        manual_seed(0);
        using var model = new ClipModel(config);
        var options = new ClipTrainerOptions
        {
            LearningRate = 5e-4, WeightDecay = 0.2, WarmupSteps = 1, Precision = c.Precision,
            ActivationCheckpointing = c.Towers, MicroBatchSize = c.Micro,
        };
        using var trainer = new ClipTrainer(model, new ContrastiveObjective(), options, 1000);
        using var pixels = randn(c.Batch, 3, 224, 224);
        using var tokens = randint(1, 49000, new long[] { c.Batch, 77 });
        tokens[TensorIndex.Colon, 40] = 49407;
        using var data = new TrainingBatch(pixels, tokens);
        long recomputedBefore = ActivationCheckpoint.Recomputations;
        // The 4× batch runs one step without warm-up: it only has to show that the step fits and what it costs.
        bool large = c.Batch > 128;
        int warmup = large ? 0 : 1, timed = large ? 1 : steps;
        double seconds = Measure.MedianSeconds(() => trainer.Step(data), warmup: warmup, repetitions: timed);
        double flops = 3 * TrainingBenchmark.ForwardFlops(config, c.Batch);
        Measure.Report($"vit-b-32-train-{c.Name}", ("samples_per_s", c.Batch / seconds), ("step_s", seconds), ("batch", c.Batch),
            ("micro_batch", c.Micro?.ToString() ?? "none"), ("checkpointed", c.Towers.ToString()),
            ("model_gflops_per_s", flops / seconds / 1e9), ("peak_rss_gib", PeakResidentBytes() / (double)(1L << 30)),
            ("warmup_steps", warmup),
            ("blocks_recomputed_per_step", (ActivationCheckpoint.Recomputations - recomputedBefore) / (double)(warmup + timed)),
            ("threads", get_num_threads()));
        return true;
    }

    /// <summary>The process's peak resident set (VmHWM), which includes the model, the optimizer state and the step's activations.</summary>
    private static long PeakResidentBytes()
    {
        var line = File.ReadLines("/proc/self/status").First(l => l.StartsWith("VmHWM:", StringComparison.Ordinal));
        // "VmHWM:\t  7654321 kB": a tab, then spaces only while the number is shorter than 8 digits.
        return long.Parse(line.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries)[1]) * 1024;
    }
}
