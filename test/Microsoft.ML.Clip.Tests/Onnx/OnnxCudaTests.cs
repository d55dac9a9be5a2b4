using System;
using Microsoft.ML.Clip.Modeling;
using Microsoft.ML.Clip.Onnx;
using Microsoft.ML.Clip.Tests.Modeling;
using Microsoft.ML.OnnxRuntime;
using Xunit;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace Microsoft.ML.Clip.Tests.Onnx;

/// <summary>
/// A fact that needs ONNX Runtime's CUDA execution provider: skipped where it cannot be created (the CPU package this
/// project references has none; an application that references Microsoft.ML.OnnxRuntime.Gpu on a machine with a CUDA
/// device has it).
/// </summary>
public sealed class CudaFactAttribute : FactAttribute
{
    private static readonly Lazy<string?> _unavailable = new(() =>
    {
        try
        {
            using var options = SessionOptions.MakeSessionOptionWithCudaProvider(0);
            return null;
        }
        catch (Exception ex) when (ex is OnnxRuntimeException or EntryPointNotFoundException or DllNotFoundException)
        {
            return ex.Message.Split('\n')[0];
        }
    });

    public CudaFactAttribute()
    {
        if (_unavailable.Value is { } reason) Skip = $"no ONNX Runtime CUDA execution provider ({reason})";
    }
}

/// <summary>The exported encoders on ONNX Runtime's CUDA provider against TorchSharp on the CPU.</summary>
public class OnnxCudaTests(ITestOutputHelper output)
{
    [CudaFact]
    public void ExportedEncodersRunOnCudaWithCpuParity()
    {
        manual_seed(31);
        using var model = new ClipModel(TinyConfigs.Micro);
        model.eval();
        foreach (var precision in new[] { ClipOnnxPrecision.Float32, ClipOnnxPrecision.Float16 })
        {
            var export = new ClipOnnxExportOptions { Precision = precision };
            using var options = SessionOptions.MakeSessionOptionWithCudaProvider(0);
            using var session = new InferenceSession(OnnxExportParityTests.Serialize(ClipOnnxExporter.ImageEncoder(model, export)), options);
            using var pixels = randn(37, 3, 16, 16);
            using var noGrad = no_grad();
            double cosine = OnnxExportParityTests.MinCosine(OrtRunner.Run(session, "pixel_values", pixels), model.EncodeImage(pixels, normalize: true));
            output.WriteLine($"CUDA {precision}: min cosine to TorchSharp fp32 {cosine:F7}");
            // fp32 on the GPU: TF32 may be used by cuBLAS for matrix products (10-bit mantissa), so the bound is the
            // fp16 one of OnnxExportParityTests rather than 1e-4 elementwise.
            Assert.True(cosine >= 0.999, $"{precision}: min cosine {cosine}");
        }
    }
}
