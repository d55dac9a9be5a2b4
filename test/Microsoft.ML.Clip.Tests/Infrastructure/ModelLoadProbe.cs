using System;
using System.Diagnostics;
using System.IO;
using Microsoft.ML;
using Xunit;

namespace Microsoft.ML.Clip.Tests;

/// <summary>
/// Runs test/Microsoft.ML.Clip.ModelLoadProbe as a second process: it loads a saved model with a plain
/// <c>MLContext.Model.Load</c> and applies it to an input view, so tests prove that saved models load in a
/// fresh process that has never touched the library's types.
/// </summary>
public static class ModelLoadProbe
{
    /// <summary>Scores <paramref name="input"/> with the model at <paramref name="modelPath"/> in a new process.</summary>
    public static IDataView TransformInNewProcess(MLContext mlContext, string modelPath, IDataView input, string workDir)
    {
        string inputPath = Path.Combine(workDir, "probe-input.idv");
        string outputPath = Path.Combine(workDir, "probe-output.idv");
        using (var stream = File.Create(inputPath))
            mlContext.Data.SaveAsBinary(input, stream);

        var start = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add(ProbePath());
        start.ArgumentList.Add(modelPath);
        start.ArgumentList.Add(inputPath);
        start.ArgumentList.Add(outputPath);
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        Assert.True(process.WaitForExit(TimeSpan.FromMinutes(5)), "the probe process did not finish in 5 minutes");
        Assert.True(process.ExitCode == 0, $"probe failed (exit {process.ExitCode}):\n{stdout.Result}\n{stderr.Result}");
        return mlContext.Data.LoadFromBinary(outputPath);
    }

    private static string ProbePath()
    {
        // The probe builds beside the tests (same configuration and framework): swap the project folder name.
        string testDir = AppContext.BaseDirectory;
        string probeDir = testDir.Replace("Microsoft.ML.Clip.Tests", "Microsoft.ML.Clip.ModelLoadProbe");
        string path = Path.Combine(probeDir, "Microsoft.ML.Clip.ModelLoadProbe.dll");
        Assert.True(File.Exists(path), $"The probe was not built: {path} is missing.");
        return path;
    }
}
