using System;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Clip.Training.Distributed;

/// <summary>The address of a CPU tensor's data, for handing it to MPI without a copy.</summary>
internal static class HostBuffer
{
    /// <summary>The data address of <paramref name="tensor"/>, which must be a contiguous CPU tensor kept alive while the address is used.</summary>
    public static unsafe IntPtr Address(Tensor tensor)
    {
        if (tensor.device_type != DeviceType.CPU || !tensor.is_contiguous())
            throw new ArgumentException("Collectives exchange contiguous CPU tensors only.", nameof(tensor));
        // For a CPU tensor, Tensor.bytes is a span over libtorch's own memory (no copy), which never moves.
        fixed (byte* data = tensor.bytes)
            return (IntPtr)data;
    }
}
