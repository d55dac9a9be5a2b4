using System;
using System.Diagnostics;
using static TorchSharp.torch;

namespace Microsoft.ML.Clip.Diagnostics;

/// <summary>
/// Measured matrix-product rates, fp32 against bf16, to tell whether bf16 has fast kernels here (AVX-512 BF16 or
/// AMX: several times fp32) or is emulated (about fp32's rate or slower). Mixed-precision training pays off only
/// in the first case.
/// </summary>
/// <param name="Size">Side of the square matrices.</param>
/// <param name="Float32GFlops">fp32 rate.</param>
/// <param name="BFloat16GFlops">bf16 rate.</param>
internal sealed record MatMulRate(int Size, double Float32GFlops, double BFloat16GFlops)
{
    /// <summary>bf16 rate over fp32 rate.</summary>
    public double Speedup => BFloat16GFlops / Float32GFlops;

    /// <summary>Measures both rates at <paramref name="size"/>² for about <paramref name="seconds"/> each.</summary>
    public static MatMulRate Measure(int size = 512, double seconds = 0.3)
    {
        if (size < 16) throw new ArgumentOutOfRangeException(nameof(size), size, "must be at least 16");
        return new MatMulRate(size, Rate(size, ScalarType.Float32, seconds), Rate(size, ScalarType.BFloat16, seconds));
    }

    private static double Rate(int size, ScalarType dtype, double seconds)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        using var generator = new Generator(7); // leaves libtorch's global random stream alone
        var a = randn([size, size], generator: generator).to(dtype);
        var b = randn([size, size], generator: generator).to(dtype);
        for (int i = 0; i < 3; i++) a.mm(b).Dispose(); // warm-up: thread pool, kernel selection
        var clock = Stopwatch.StartNew();
        long runs = 0;
        while (clock.Elapsed.TotalSeconds < seconds || runs < 3)
        {
            a.mm(b).Dispose();
            runs++;
        }
        return 2.0 * size * size * size * runs / clock.Elapsed.TotalSeconds / 1e9;
    }
}
