using System;
using System.Diagnostics;
using System.IO;
using System.Linq;
using Microsoft.ML.Clip.Weights;
using Xunit;

namespace Microsoft.ML.Clip.Tests.Reliability;

/// <summary>
/// A training process killed at a random moment resumes from its last checkpoint and ends with the same weights
/// as a run that was never interrupted (CPU, fixed seed). test/Microsoft.ML.Clip.TrainingProbe is the training run.
/// </summary>
[Trait("Category", "Slow")]
public class KillAndResumeTests
{
    private static string ProbePath()
    {
        string path = Path.Combine(AppContext.BaseDirectory.Replace("Microsoft.ML.Clip.Tests", "Microsoft.ML.Clip.TrainingProbe"),
            "Microsoft.ML.Clip.TrainingProbe.dll");
        Assert.True(File.Exists(path), $"The training probe was not built: {path} is missing.");
        return path;
    }

    private static Process Start(string checkpoints, string weights)
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        start.ArgumentList.Add(ProbePath());
        start.ArgumentList.Add(checkpoints);
        start.ArgumentList.Add(weights);
        return Process.Start(start)!;
    }

    private static void RunToEnd(string checkpoints, string weights)
    {
        using var process = Start(checkpoints, weights);
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        Assert.True(process.WaitForExit(TimeSpan.FromMinutes(5)), "the training probe did not finish in 5 minutes");
        Assert.True(process.ExitCode == 0, $"training probe failed ({process.ExitCode}):\n{output.Result}\n{error.Result}");
        Assert.Contains("done: 36 steps", output.Result);
    }

    [Fact]
    public void KilledRunResumesToTheWeightsOfAnUninterruptedRun()
    {
        using var temp = new TempDirectory();
        RunToEnd(temp.File("reference"), temp.File("reference.safetensors"));

        // Kill the second run at a random step (between the first checkpoint and the end); the kill lands wherever
        // the process is by then: inside a step, a checkpoint write or a data read.
        string checkpoints = temp.File("interrupted");
        int killAt = new Random(Environment.TickCount).Next(3, 34);
        using (var process = Start(checkpoints, temp.File("interrupted.safetensors")))
        {
            string? line;
            while ((line = process.StandardOutput.ReadLine()) is not null && !line.StartsWith($"step {killAt}/", StringComparison.Ordinal)) { }
            Assert.True(line is not null, $"the run ended before step {killAt}");
            process.Kill(entireProcessTree: true);
            process.WaitForExit();
        }
        Assert.False(File.Exists(temp.File("interrupted.safetensors")));
        // Whatever the moment, every visible checkpoint is complete (partial writes live under a temporary name).
        foreach (var file in Directory.GetFiles(checkpoints, "checkpoint-*.safetensors"))
            using (var stream = File.OpenRead(file))
                SafeTensors.ReadHeader(stream, file);

        RunToEnd(checkpoints, temp.File("interrupted.safetensors"));
        var expected = SafeTensors.Load(temp.File("reference.safetensors"));
        var actual = SafeTensors.Load(temp.File("interrupted.safetensors"));
        Assert.Equal(expected.Keys.Order(), actual.Keys.Order());
        // The resumed process replays the same steps, but in another process whose thread partitions (MKL_DYNAMIC)
        // may differ from the uninterrupted one's: rounding-level differences (~1e-7 relative) carried through the
        // remaining Adam steps. 1e-5 relative + 1e-6 absolute bounds those; resuming from the wrong step, or without
        // the optimizer state, moves weights by about a learning rate (1e-3).
        foreach (var (name, tensor) in expected)
            Assert.True(tensor.allclose(actual[name], rtol: 1e-5, atol: 1e-6), $"{name} differs after kill and resume");
    }
}
