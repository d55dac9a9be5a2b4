using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Runtime.InteropServices;
using X86 = System.Runtime.Intrinsics.X86;

namespace Microsoft.ML.Clip.Diagnostics;

/// <summary>
/// The processor as the operating system reports it (Linux <c>/proc/cpuinfo</c>: model, family, the vector
/// extension flags that decide which libtorch / oneDNN / MKL kernels run) and as .NET's JIT detects it.
/// </summary>
/// <param name="Model">The <c>model name</c> line, or the architecture when unknown.</param>
/// <param name="Family">The <c>cpu family</c> line (26 is AMD Zen 5), or null.</param>
/// <param name="VectorFlags">The vector-extension flags present, in <see cref="InterestingFlags"/> order.</param>
/// <param name="DotNetIntrinsics">.NET's <c>IsSupported</c> of the x86 instruction sets that matter here.</param>
public sealed record CpuInfo(string Model, string? Family, IReadOnlyList<string> VectorFlags, IReadOnlyList<(string Name, bool Supported)> DotNetIntrinsics)
{
    /// <summary>The <c>/proc/cpuinfo</c> flags reported when present (SIMD width, dot-product and bf16 extensions).</summary>
    public static readonly string[] InterestingFlags =
    [
        "sse4_2", "avx", "avx2", "fma", "f16c", "avx_vnni", "avx512f", "avx512dq", "avx512cd", "avx512bw", "avx512vl",
        "avx512_vnni", "avx512_bf16", "avx512_fp16", "avx512vbmi", "avx512_vbmi2", "avx512_bitalg", "avx512_vpopcntdq",
        "avx512_vp2intersect", "avx512ifma", "amx_tile", "amx_bf16", "amx_int8", "neon", "asimd", "sve", "bf16",
    ];

    /// <summary>
    /// Whether the processor has bf16 dot-product instructions (AVX-512 BF16, AMX, or Arm's BF16), with which
    /// libtorch's bf16 matrix products run several times faster than fp32. Without them bf16 is emulated and
    /// slower than fp32 (measured on an AVX2-only Zen 3: about a tenth of the fp32 rate).
    /// </summary>
    public bool HasFastBFloat16 => VectorFlags.Any(f => f is "avx512_bf16" or "amx_bf16" or "bf16");

    /// <summary>Reads the current machine's processor description.</summary>
    public static CpuInfo Detect()
    {
        var fields = ReadFirstProcessor("/proc/cpuinfo");
        string model = fields.GetValueOrDefault("model name") ?? fields.GetValueOrDefault("Model") ?? RuntimeInformation.ProcessArchitecture.ToString();
        var flags = (fields.GetValueOrDefault("flags") ?? fields.GetValueOrDefault("Features") ?? "")
            .Split(' ', StringSplitOptions.RemoveEmptyEntries).ToHashSet(StringComparer.Ordinal);
        return new CpuInfo(model, fields.GetValueOrDefault("cpu family"), InterestingFlags.Where(flags.Contains).ToList(), Intrinsics());
    }

    private static List<(string, bool)> Intrinsics() =>
    [
        ("Avx2", X86.Avx2.IsSupported), ("Fma", X86.Fma.IsSupported), ("AvxVnni", X86.AvxVnni.IsSupported),
        ("Avx512F", X86.Avx512F.IsSupported), ("Avx512BW", X86.Avx512BW.IsSupported), ("Avx512DQ", X86.Avx512DQ.IsSupported),
        ("Avx512Vbmi", X86.Avx512Vbmi.IsSupported), ("Avx10v1", X86.Avx10v1.IsSupported),
    ];

    // The key/value lines of the first "processor" block (all cores report the same flags); empty off Linux.
    private static Dictionary<string, string> ReadFirstProcessor(string path)
    {
        var fields = new Dictionary<string, string>(StringComparer.Ordinal);
        if (!File.Exists(path)) return fields;
        foreach (var line in File.ReadLines(path))
        {
            if (line.Length == 0) { if (fields.Count > 0) break; continue; }
            int colon = line.IndexOf(':');
            if (colon > 0) fields.TryAdd(line[..colon].Trim(), line[(colon + 1)..].Trim());
        }
        return fields;
    }
}
