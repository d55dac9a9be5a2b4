using System;
using System.Runtime.InteropServices;
using static TorchSharp.torch;

namespace Microsoft.ML.Clip.Torch;

/// <summary>Copies between managed spans and CPU tensors, each in one copy (no intermediate array).</summary>
internal static class SpanTensors
{
    /// <summary>A new CPU tensor of <paramref name="shape"/> holding <paramref name="values"/> (straight into its storage).</summary>
    public static Tensor FromSpan<T>(ReadOnlySpan<T> values, long[] shape, ScalarType dtype) where T : unmanaged
    {
        var result = empty(shape, dtype);
        MemoryMarshal.AsBytes(values).CopyTo(result.bytes);
        return result;
    }

    /// <summary>Copies <paramref name="values"/> (any device and floating dtype) as float32 into the start of <paramref name="destination"/>.</summary>
    public static void CopyToSpan(Tensor values, Span<float> destination)
    {
        using var scope = NewDisposeScope();
        var cpu = values.to(ScalarType.Float32).cpu().contiguous();
        cpu.data<float>().CopyTo(destination[..(int)cpu.numel()]);
    }
}
