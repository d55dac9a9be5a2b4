using System;
using System.IO;
using System.Linq;
using System.Runtime.InteropServices;
using System.Text;
using TorchSharp;

namespace Microsoft.ML.Clip.Diagnostics;

/// <summary>
/// What the loaded libtorch says about itself: version, ATen's CPU kernel level, whether oneDNN (mkldnn) is enabled,
/// thread pools, and the environment variables that limit kernel dispatch.
/// </summary>
/// <param name="Version">TorchSharp's libtorch package version (<c>torch.__version__</c>).</param>
/// <param name="CpuCapability">ATen's dispatch level (<c>DEFAULT</c>, <c>AVX2</c>, <c>AVX512</c>), or null when it could not be read.</param>
/// <param name="MkldnnEnabled">Whether libtorch may use oneDNN (<c>torch.backends.mkldnn.enabled</c>), or null when unknown.</param>
/// <param name="Threads">Intra-op threads.</param>
/// <param name="InteropThreads">Inter-op threads.</param>
/// <param name="DispatchEnvironment">ATEN_CPU_CAPABILITY, ONEDNN_MAX_CPU_ISA, DNNL_MAX_CPU_ISA, thread and convolution-path variables that are set.</param>
internal sealed record LibTorchInfo(string Version, string? CpuCapability, bool? MkldnnEnabled, int Threads, int InteropThreads,
                                  string DispatchEnvironment)
{
    private static readonly string[] EnvironmentNames =
        ["ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA", "ONEDNN_DEFAULT_FPMATH_MODE", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "MKL_CBWR",
         Modeling.Kernels.ConvPathSelector.EnvironmentVariable];

    /// <summary>Reads the values from the libtorch loaded in this process (loading it if needed).</summary>
    public static LibTorchInfo Detect()
    {
        int threads = torch.get_num_threads(); // loads the native library first
        var set = EnvironmentNames.Select(n => (n, v: Environment.GetEnvironmentVariable(n))).Where(p => !string.IsNullOrEmpty(p.v)).ToList();
        string env = set.Count == 0 ? "none set" : string.Join(", ", set.Select(p => $"{p.n}={p.v}"));
        var exports = LibTorchExports.Open();
        return new LibTorchInfo(torch.__version__, exports?.CpuCapability(), exports?.MkldnnEnabled(), threads, torch.get_num_interop_threads(), env);
    }
}

/// <summary>
/// Two C++ functions of <c>libtorch_cpu.so</c> that TorchSharp does not wrap: <c>at::get_cpu_capability()</c> and
/// <c>at::globalContext().userEnabledMkldnn()</c>, called through their exported (mangled) names. Linux x64 only,
/// where the calling convention is known (System V; a returned std::string comes back through a hidden pointer).
/// </summary>
internal sealed unsafe class LibTorchExports
{
    private readonly IntPtr _library;

    private LibTorchExports(IntPtr library) => _library = library;

    /// <summary>The already-loaded libtorch_cpu, found through /proc/self/maps; null elsewhere or when not found.</summary>
    public static LibTorchExports? Open()
    {
        if (!OperatingSystem.IsLinux() || RuntimeInformation.ProcessArchitecture != Architecture.X64) return null;
        const string maps = "/proc/self/maps";
        if (!File.Exists(maps)) return null;
        var path = File.ReadLines(maps).Select(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries).LastOrDefault())
            .FirstOrDefault(p => p is not null && p.EndsWith("/libtorch_cpu.so", StringComparison.Ordinal));
        return path is not null && NativeLibrary.TryLoad(path, out var handle) ? new LibTorchExports(handle) : null;
    }

    /// <summary>ATen's CPU capability string, honouring ATEN_CPU_CAPABILITY; null when the symbol is missing.</summary>
    public string? CpuCapability()
    {
        if (!NativeLibrary.TryGetExport(_library, "_ZN2at18get_cpu_capabilityB5cxx11Ev", out var fn)) return null;
        // libstdc++'s std::string (C++11 ABI): { char* data; size_t length; char local[16] }, 32 bytes. Capability
        // names fit the 15-character local buffer, so there is no heap block to free.
        byte* text = stackalloc byte[32];
        ((delegate* unmanaged<byte*, byte*>)fn)(text);
        byte* data = *(byte**)text;
        long length = *(long*)(text + 8);
        if (length is < 0 or > 64) return null;
        return Encoding.ASCII.GetString(data, (int)length);
    }

    /// <summary>Whether oneDNN is enabled in ATen's global context; null when the symbols are missing.</summary>
    public bool? MkldnnEnabled()
    {
        if (!NativeLibrary.TryGetExport(_library, "_ZN2at13globalContextEv", out var context)
            || !NativeLibrary.TryGetExport(_library, "_ZNK2at7Context17userEnabledMkldnnEv", out var enabled))
            return null;
        IntPtr ctx = ((delegate* unmanaged<IntPtr>)context)();
        return ((delegate* unmanaged<IntPtr, byte>)enabled)(ctx) != 0;
    }
}
