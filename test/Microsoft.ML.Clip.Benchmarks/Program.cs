using System;
using System.Linq;
using static TorchSharp.torch;

namespace Microsoft.ML.Clip.Benchmarks;

/// <summary>
/// <c>dotnet run -c Release --project test/Microsoft.ML.Clip.Benchmarks [names...]</c>; with no name, all run.
/// Threads: libtorch's intra-op pool is set to the number of cores explicitly (MKL/OpenMP would otherwise pick
/// their own defaults); nothing else runs in parallel with the measured work.
/// </summary>
public static class Program
{
    public static int Main(string[] args)
    {
        int threads = Environment.ProcessorCount;
        set_num_threads(threads);
        var all = new (string Name, Action Run)[]
        {
            ("embedding", () => EmbeddingBenchmark.Run()),
            ("family-embedding", () => FamilyEmbeddingBenchmark.Run()),
            ("training", () => TrainingBenchmark.Run()),
            ("locked-towers", () => LockedTowerBenchmark.Run()),
            ("objectives", () => ObjectivesBenchmark.Run()),
            ("pipeline", () => PipelineBenchmark.Run()),
            ("data-parallel", () => DataParallelBenchmark.Run()),
            ("vit-b-32-training", () => VitB32TrainingBenchmark.Run()),
            ("step-breakdown", () => StepBreakdownBenchmark.Run()),
            ("onnx", () => OnnxRuntimeBenchmark.Run()),
            ("generators", () => GeneratorBenchmark.Run(GeneratorCount(args))),
        };
        // One case of the ViT-B-32 training benchmark, in its own process (for its own peak memory).
        if (VitB32TrainingBenchmark.TryRunCase(args)) return 0;
        // One rank of the data-parallel benchmark's MPI job (it sets its own threads).
        if (args is ["data-parallel-rank"])
        {
            DataParallelBenchmark.RunRank();
            return 0;
        }
        var selected = args.Length == 0 ? all : all.Where(b => args.Contains(b.Name)).ToArray();
        if (selected.Length == 0)
        {
            Console.Error.WriteLine($"Unknown benchmark; available: {string.Join(", ", all.Select(b => b.Name))}.");
            return 2;
        }
        foreach (var (_, run) in selected) run();
        return 0;
    }

    /// <summary><c>generators --count N</c>: images and texts per route (default 2,000).</summary>
    private static int GeneratorCount(string[] args)
    {
        int at = Array.IndexOf(args, "--count");
        return at >= 0 && at + 1 < args.Length ? int.Parse(args[at + 1], System.Globalization.CultureInfo.InvariantCulture) : 2000;
    }
}
