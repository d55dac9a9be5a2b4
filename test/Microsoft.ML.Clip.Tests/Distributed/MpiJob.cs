using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Linq;
using Xunit;

namespace Microsoft.ML.Clip.Tests.Distributed;

/// <summary>
/// Runs test/Microsoft.ML.Clip.DistributedProbe alone or as an MPI job (<c>mpiexec -n N</c>, MPICH). Without an
/// MPICH <c>mpiexec</c> the tests that need one are skipped locally and fail on CI, which installs it (.ci/run).
/// </summary>
internal static class MpiJob
{
    private static readonly Lazy<string?> _mpiexec = new(() =>
    {
        foreach (var name in new[] { "mpiexec.mpich", "mpiexec.hydra", "mpiexec" })
            foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator))
                if (dir.Length > 0 && File.Exists(Path.Combine(dir, name))) return Path.Combine(dir, name);
        return null;
    });

    public static string? Mpiexec => _mpiexec.Value;

    /// <summary>Why an MPI test is skipped here, or null when it runs (always on CI, where a missing mpiexec fails it).</summary>
    public static string? SkipReason => Mpiexec is null && !Fixtures.IsCI
        ? "MPICH's mpiexec is not installed (apt-get install mpich); CI runs these tests." : null;

    public sealed record Result(int ExitCode, string Output, string Error)
    {
        public string All => Output + Error;
    }

    private static string ProbePath()
    {
        string path = Path.Combine(AppContext.BaseDirectory.Replace("Microsoft.ML.Clip.Tests", "Microsoft.ML.Clip.DistributedProbe"),
            "Microsoft.ML.Clip.DistributedProbe.dll");
        Assert.True(File.Exists(path), $"The distributed probe was not built: {path} is missing.");
        return path;
    }

    /// <summary>Runs the probe in <paramref name="processes"/> processes (1: plainly, without mpiexec).</summary>
    public static Result Run(int processes, params string[] arguments)
    {
        var start = processes == 1 ? new ProcessStartInfo("dotnet") : new ProcessStartInfo(Mpiexec ?? throw new InvalidOperationException(
            "MPICH's mpiexec was not found on PATH (apt-get install mpich)."));
        if (processes > 1)
        {
            start.ArgumentList.Add("-n");
            start.ArgumentList.Add(processes.ToString(System.Globalization.CultureInfo.InvariantCulture));
            start.ArgumentList.Add("dotnet");
        }
        start.ArgumentList.Add(ProbePath());
        foreach (var a in arguments) start.ArgumentList.Add(a);
        start.RedirectStandardOutput = start.RedirectStandardError = true;
        start.UseShellExecute = false;
        // Tests run without an MPI launcher around them; a stray PMI_* from an outer job would confuse the probe.
        foreach (var key in new[] { "PMI_SIZE", "PMI_RANK", "PMI_FD", "OMPI_COMM_WORLD_SIZE" }) start.Environment.Remove(key);
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(TimeSpan.FromMinutes(4)))
        {
            process.Kill(entireProcessTree: true);
            Assert.Fail($"the probe ({processes} processes, {string.Join(' ', arguments)}) did not finish in 4 minutes:\n{output.Result}\n{error.Result}");
        }
        process.WaitForExit();
        return new Result(process.ExitCode, output.Result, error.Result);
    }

    /// <summary>Runs the probe and expects success.</summary>
    public static Result RunOk(int processes, params string[] arguments)
    {
        var result = Run(processes, arguments);
        Assert.True(result.ExitCode == 0, $"the probe failed with exit code {result.ExitCode} ({processes} processes, {string.Join(' ', arguments)}):\n{result.All}");
        return result;
    }

    /// <summary>"step loss gradient-norm checksum" lines written by each rank of a trainer-mode run.</summary>
    public static List<(long Step, double Loss, double GradientNorm, string Checksum)> StepLog(string path) =>
        File.ReadAllLines(path).Select(line => line.Split(' ')).Select(p => (long.Parse(p[0], Invariant), double.Parse(p[1], Invariant),
            double.Parse(p[2], Invariant), p[3])).ToList();

    private static System.Globalization.CultureInfo Invariant => System.Globalization.CultureInfo.InvariantCulture;
}

/// <summary>A fact that needs MPICH's mpiexec: skipped locally without it, run (and failing) on CI.</summary>
public sealed class MpiFactAttribute : FactAttribute
{
    public MpiFactAttribute() => Skip = MpiJob.SkipReason;
}

/// <summary>A theory that needs MPICH's mpiexec: skipped locally without it, run (and failing) on CI.</summary>
public sealed class MpiTheoryAttribute : TheoryAttribute
{
    public MpiTheoryAttribute() => Skip = MpiJob.SkipReason;
}
