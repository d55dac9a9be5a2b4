using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using Microsoft.ML.Clip.Modeling.Kernels;
using static TorchSharp.torch;

namespace Microsoft.ML.Clip.Diagnostics;

/// <summary>
/// The <c>doctor</c> report: this machine's CPU and libtorch, bf16 speed, and a forward/backward check against
/// float64 of every operation the towers and losses use, in fp32 and bf16. An application can run it at start-up and
/// refuse to train on a machine whose kernels are off (<see cref="DoctorResult.Passed"/>).
/// </summary>
/// <example>
/// <code>
/// var result = ClipDoctor.Run(Console.Out);
/// if (!result.Passed) throw new InvalidOperationException(result.Summary);
/// </code>
/// </example>
public static class ClipDoctor
{
    private static readonly ScalarType[] DTypes = [ScalarType.Float32, ScalarType.BFloat16];

    /// <summary>Writes the whole report to <paramref name="output"/>; the result says what failed.</summary>
    public static DoctorResult Run(TextWriter output)
    {
        ArgumentNullException.ThrowIfNull(output);
        WriteMachine(output);
        output.WriteLine("kernel checks (forward and every input gradient against float64; worst result shown):");
        var results = CheckKernels(line => output.WriteLine(line));
        var result = new DoctorResult(results);
        output.WriteLine(result.Summary);
        return result;
    }

    /// <summary>Runs every kernel check in fp32 and bf16, reporting one line per check through <paramref name="report"/>.</summary>
    internal static IReadOnlyList<KernelCheckResult> CheckKernels(Action<string>? report = null)
    {
        var results = new List<KernelCheckResult>();
        void Add(KernelCheckResult r)
        {
            results.Add(r);
            report?.Invoke(Line(r));
        }
        foreach (var dtype in DTypes)
        {
            foreach (var probe in TowerKernelProbes.All()) Add(KernelCheck.Run(probe, dtype));
            foreach (var conv in TowerKernelProbes.Convolutions(dtype))
                foreach (var path in new[] { ConvPath.Native, ConvPath.Im2Col })
                    Add(ConvKernelCheck.Run(conv, path));
        }
        return results;
    }

    /// <summary>One check as a report line: verdict, operation, dtype, worst error and its tolerance.</summary>
    internal static string Line(KernelCheckResult r)
    {
        var w = r.Worst;
        return string.Create(CultureInfo.InvariantCulture,
            $"{(r.Passed ? "OK  " : "FAIL")} {r.Operation,-62} {r.DType,-8} max err {w.MaxError:E2}  tol {w.Tolerance:E2}  ({w.What})");
    }

    private static void WriteMachine(TextWriter output)
    {
        var cpu = CpuInfo.Detect();
        var torchInfo = LibTorchInfo.Detect();
        output.WriteLine($"CPU: {cpu.Model}{(cpu.Family is null ? "" : $" (cpu family {cpu.Family})")}, {Environment.ProcessorCount} logical processors");
        output.WriteLine($"vector extensions (/proc/cpuinfo): {(cpu.VectorFlags.Count == 0 ? "unknown" : string.Join(' ', cpu.VectorFlags))}");
        output.WriteLine($".NET intrinsics: {string.Join(", ", cpu.DotNetIntrinsics.Select(i => $"{i.Name} {(i.Supported ? "yes" : "no")}"))}");
        output.WriteLine($"libtorch: {torchInfo.Version}; ATen CPU capability: {torchInfo.CpuCapability ?? "unknown (at::get_cpu_capability not reachable on this platform)"}; " +
                         $"oneDNN (mkldnn) enabled: {torchInfo.MkldnnEnabled?.ToString() ?? "unknown"}; oneDNN's ISA: not exposed by libtorch (limit it with ONEDNN_MAX_CPU_ISA)");
        output.WriteLine($"dispatch environment: {torchInfo.DispatchEnvironment}");
        output.WriteLine($"threads: {torchInfo.Threads} intra-op, {torchInfo.InteropThreads} inter-op");
        var rate = MatMulRate.Measure();
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"bf16: {rate.Size}² matrix product {rate.Float32GFlops:F1} GFLOP/s fp32, {rate.BFloat16GFlops:F1} GFLOP/s bf16 ({rate.Speedup:F2}×: " +
            $"{(rate.Speedup >= 1.3 ? "fast bf16 kernels" : "no fast bf16 kernels; bf16 mixed precision saves memory, not time")})"));
        output.WriteLine($"convolution path mode: {ConvPathSelector.Mode.ToString().ToLowerInvariant()} ({ConvPathSelector.EnvironmentVariable})");
    }
}

/// <summary>The outcome of <see cref="ClipDoctor.Run"/>.</summary>
public sealed class DoctorResult
{
    internal DoctorResult(IReadOnlyList<KernelCheckResult> checks)
    {
        Checks = checks;
        Failures = checks.Where(c => !c.Passed).ToList();
    }

    /// <summary>Every kernel check, in report order.</summary>
    internal IReadOnlyList<KernelCheckResult> Checks { get; }

    /// <summary>The checks that failed.</summary>
    internal IReadOnlyList<KernelCheckResult> Failures { get; }

    /// <summary>How many kernel checks ran (every operation, in fp32 and bf16).</summary>
    public int CheckCount => Checks.Count;

    /// <summary>True when every check passed.</summary>
    public bool Passed => Failures.Count == 0;

    /// <summary>The report line of each failed check (operation, dtype, worst error and its tolerance); empty when all passed.</summary>
    public IReadOnlyList<string> FailedChecks => Failures.Select(ClipDoctor.Line).ToList();

    /// <summary>0 when every check passed, 1 otherwise.</summary>
    public int ExitCode => Passed ? 0 : 1;

    /// <summary>The last report line: all passed, or each failing operation with its error.</summary>
    public string Summary => Passed
        ? $"doctor: all {Checks.Count} kernel checks passed"
        : $"doctor: {Failures.Count} of {Checks.Count} kernel checks FAILED: " +
          string.Join("; ", Failures.Select(f => $"{f.Operation} {f.DType} {f.Worst}"));
}
