using System;
using System.Linq;
using static TorchSharp.torch;

namespace Microsoft.ML.Clip.Torch;

/// <summary>
/// The copies of device values to the host that training steps and scoring make: batched figures for logging and
/// decisions (<see cref="Read"/>) and results handed to the caller (<see cref="ToCpu"/>).
/// </summary>
/// <remarks>
/// On a GPU each such copy waits for all queued work, so a step should make as few as possible; routing them through
/// one place lets tests count them (<see cref="Count"/>), and a source check keeps other host reads out of the steps.
/// </remarks>
internal static class HostTransfer
{
    [ThreadStatic] private static long t_count;

    /// <summary>Reads and copies made on this thread so far (copies of tensors already on the CPU included).</summary>
    public static long Count => t_count;

    /// <summary>The values of the 0-dim (or one-element) tensors <paramref name="scalars"/>, read in one copy, as doubles.</summary>
    public static double[] Read(params Tensor[] scalars)
    {
        ArgumentNullException.ThrowIfNull(scalars);
        if (scalars.Length == 0) return [];
        t_count++;
        using var scope = NewDisposeScope();
        // float32 → float64 is exact, so each value is what item<float>() would have returned.
        var packed = stack(scalars.Select(s => s.detach().reshape(1).to(ScalarType.Float64)).ToArray()).cpu();
        return packed.data<double>().ToArray();
    }

    /// <summary><paramref name="tensor"/> on the CPU (no copy when it is there already).</summary>
    public static Tensor ToCpu(Tensor tensor)
    {
        ArgumentNullException.ThrowIfNull(tensor);
        t_count++;
        return tensor.cpu();
    }
}
