using System;
using Microsoft.ML.Clip.Diagnostics;
using Microsoft.ML.Clip.Training;
using static TorchSharp.torch;

namespace Microsoft.ML.Clip.Samples;

/// <summary>
/// The samples' precision: bf16 mixed training and bf16 inference where the processor computes bf16 natively
/// (AVX-512 BF16, AMX), fp32 elsewhere (emulated bf16 is several times slower than fp32).
/// </summary>
internal static class SamplePrecision
{
    private static readonly Lazy<bool> Fast = new(() =>
    {
        bool fast = CpuInfo.Detect().HasFastBFloat16;
        Console.WriteLine(fast ? "Precision: bf16 (the processor computes bf16 natively)." : "Precision: fp32 (no native bf16 on this processor).");
        return fast;
    });

    public static TrainingPrecision Training => Fast.Value ? TrainingPrecision.BFloat16Mixed : TrainingPrecision.Float32;

    public static ScalarType Inference => Fast.Value ? ScalarType.BFloat16 : ScalarType.Float32;
}
