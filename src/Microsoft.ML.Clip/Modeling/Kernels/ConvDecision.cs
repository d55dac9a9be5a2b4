using System.Globalization;

namespace Microsoft.ML.Clip.Modeling.Kernels;

/// <summary>The path chosen for one convolution signature and the checks it was chosen on.</summary>
/// <param name="Signature">The convolution.</param>
/// <param name="Path">The path its forward and backward use from now on in this process.</param>
/// <param name="CheckedBatch">The batch the checks ran with (<see cref="ConvKernelCheck.CheckBatch"/>).</param>
/// <param name="Native">The native (oneDNN) kernel's check.</param>
/// <param name="Im2Col">The im2col path's check; null when the native kernel passed and im2col was not needed.</param>
internal sealed record ConvDecision(ConvSignature Signature, ConvPath Path, long CheckedBatch, KernelCheckResult Native, KernelCheckResult? Im2Col)
{
    /// <summary>Whether the chosen path passed its check (false only when both paths failed).</summary>
    public bool Trusted => Path == ConvPath.Native ? Native.Passed : Im2Col!.Passed;

    /// <summary>The one log line of this decision.</summary>
    public string Message
    {
        get
        {
            string line = string.Create(CultureInfo.InvariantCulture,
                $"Convolution kernel check, {Signature} (checked at batch {CheckedBatch}): {Verdict(ConvPath.Native, Native)}");
            if (Im2Col is not null) line += "; " + Verdict(ConvPath.Im2Col, Im2Col);
            line += $" -> using {ConvKernelCheck.Describe(Path)}";
            if (!Trusted) line += " (WARNING: no path within tolerance; the smaller error was kept)";
            return line;
        }
    }

    private static string Verdict(ConvPath path, KernelCheckResult result) =>
        $"{ConvKernelCheck.Describe(path)} {(result.Passed ? "OK" : "FAIL")} ({result.Worst})";
}
