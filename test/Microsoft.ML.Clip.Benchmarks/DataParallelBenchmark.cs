using System;
using System.Diagnostics;
using System.IO;
using System.Linq;
using Microsoft.ML.Clip.Distributed;
using Microsoft.ML.Clip.Modeling;
using Microsoft.ML.Clip.Training;
using Microsoft.ML.Clip.Training.Objectives;
using static TorchSharp.torch;

namespace Microsoft.ML.Clip.Benchmarks;

/// <summary>
/// Data-parallel training step (the train-small model, CLIP loss, global batch 64 of random pixels and tokens, fp32)
/// on 1 process and on 2 processes under <c>mpiexec -n 2</c>, each with its share of the machine's cores. Prints the
/// median step time, samples/s, and the share of the step spent waiting for other processes
/// (<c>communication_wait_fraction</c>: feature gathers, feature-gradient sums, the gradient all-reduce not hidden
/// behind the image tower's backward) beside all time in collectives (<c>communication_fraction</c>, overlapped or not).
/// </summary>
internal static class DataParallelBenchmark
{
    private const int GlobalBatch = 64;
    private const int Steps = 4;

    /// <summary>The single-process figure here, then the two-process one from an <c>mpiexec -n 2</c> child.</summary>
    public static void Run()
    {
        RunProcess(group: null);
        string? mpiexec = new[] { "mpiexec.mpich", "mpiexec" }
            .SelectMany(name => (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator).Select(dir => Path.Combine(dir, name)))
            .FirstOrDefault(File.Exists);
        if (mpiexec is null)
        {
            Console.Error.WriteLine("data-parallel: MPICH's mpiexec is not on PATH (apt-get install mpich); the 2-process figure is skipped.");
            return;
        }
        var start = new ProcessStartInfo(mpiexec) { UseShellExecute = false };
        foreach (var a in new[] { "-n", "2", "dotnet", typeof(DataParallelBenchmark).Assembly.Location, "data-parallel-rank" }) start.ArgumentList.Add(a);
        using var child = Process.Start(start)!;
        child.WaitForExit();
        if (child.ExitCode != 0) Console.Error.WriteLine($"data-parallel: the 2-process run failed with exit code {child.ExitCode}.");
    }

    /// <summary>One rank of the MPI job (started by <see cref="Run"/>).</summary>
    public static void RunRank() => RunProcess(MpiProcessGroup.World);

    private static void RunProcess(ProcessGroup? group)
    {
        int processes = group?.Size ?? 1, rank = group?.Rank ?? 0;
        int threads = Math.Max(1, Environment.ProcessorCount / (group?.LocalSize ?? 1));
        set_num_threads(threads);
        int local = GlobalBatch / processes;

        manual_seed(0);
        using var model = new ClipModel(ClipPresets.Small);
        using var trainer = new ClipTrainer(model, new ContrastiveObjective(),
            new ClipTrainerOptions { LearningRate = 1e-4, WeightDecay = 0.2, WarmupSteps = 1 }, 1000, group);
        using var scope = NewDisposeScope();
        manual_seed(1);
        var pixels = randn(GlobalBatch, 3, 96, 96);
        var tokens = randint(1, 49000, new long[] { GlobalBatch, 32 });
        tokens[TensorIndex.Colon, 20] = 49407;
        using var mine = new TrainingBatch(pixels.narrow(0, rank * local, local).clone(), tokens.narrow(0, rank * local, local).clone());

        trainer.Step(mine); // warm-up
        var times = new double[Steps];
        var wait0 = trainer.CommunicationWait;
        var busy0 = group?.CommunicationTime ?? TimeSpan.Zero;
        for (int i = 0; i < Steps; i++)
        {
            var clock = Stopwatch.StartNew();
            trainer.Step(mine);
            times[i] = clock.Elapsed.TotalSeconds;
        }
        double total = times.Sum();
        double wait = (trainer.CommunicationWait - wait0).TotalSeconds, busy = ((group?.CommunicationTime ?? TimeSpan.Zero) - busy0).TotalSeconds;
        Array.Sort(times);
        if (rank == 0)
            Measure.Report("data-parallel", ("processes", processes), ("threads_per_process", threads), ("global_batch", GlobalBatch),
                ("step_s", times[Steps / 2]), ("samples_per_s", GlobalBatch / times[Steps / 2]),
                ("communication_wait_fraction", wait / total), ("communication_fraction", busy / total));
    }
}
