using System;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Clip.Torch;

/// <summary>
/// Random-looking integers computed from counters with tensor arithmetic (a counter-based generator): the same
/// values on every device, from nothing but a key, so draws need no generator state and resume anywhere.
/// </summary>
/// <remarks>
/// TorchSharp 0.107 cannot create a generator on a GPU (its native <c>THSGenerator_new</c> always makes a CPU one),
/// so a seeded, checkpointable draw on the model's device has to be built from arithmetic. The mixing function is
/// Wellons' "lowbias32" 32-bit integer hash, evaluated in int64 with the high half masked off after each product
/// (products of two 32-bit values wrap in int64 on every backend, and the low 32 bits do not depend on the wrap).
/// </remarks>
internal static class CounterHash
{
    private const long Mask32 = 0xFFFF_FFFFL;

    /// <summary>A [rows, columns] int64 tensor on <paramref name="device"/> of distinct keys whose order is a
    /// pseudo-random permutation of each row, determined by <paramref name="seed"/> and <paramref name="counter"/>:
    /// <c>hash(key, row·columns + column)·columns + column</c>, so ties cannot happen and sorting gives the same
    /// order on every device.</summary>
    public static Tensor PermutationKeys(ulong seed, long counter, long rows, long columns, Device device)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(rows);
        ArgumentOutOfRangeException.ThrowIfLessThan(columns, 1);
        using var scope = NewDisposeScope();
        uint key = Mix((uint)seed ^ Mix((uint)(seed >> 32) ^ Mix((uint)counter ^ Mix((uint)(counter >> 32)))));
        var index = ScalarSafe.Arange(0, rows * columns, ScalarType.Int64, device);           // row·columns + column
        var hashed = Hash(Hash(index.bitwise_xor(Constant(key, device))).bitwise_xor(Constant(Mix(key + 0x9E37_79B9u), device)));
        var column = index.remainder(Constant(columns, device));
        return ScalarSafe.Add(hashed.mul(Constant(columns, device)), column).view(rows, columns).MoveToOuterDisposeScope();
    }

    /// <summary>lowbias32 on the host (for keys).</summary>
    internal static uint Mix(uint x)
    {
        x ^= x >> 16;
        x *= 0x7FEB_352Du;
        x ^= x >> 15;
        x *= 0x846C_A68Bu;
        x ^= x >> 16;
        return x;
    }

    /// <summary>lowbias32 of every element of <paramref name="x"/> (int64 values in [0, 2³²)).</summary>
    private static Tensor Hash(Tensor x)
    {
        var device = x.device;
        var mask = Constant(Mask32, device);
        x = x.bitwise_and(mask);
        x = x.bitwise_xor(x.bitwise_right_shift(Constant(16, device)));
        x = x.mul(Constant(0x7FEB_352D, device)).bitwise_and(mask);
        x = x.bitwise_xor(x.bitwise_right_shift(Constant(15, device)));
        x = x.mul(Constant(0x846C_A68B, device)).bitwise_and(mask);
        return x.bitwise_xor(x.bitwise_right_shift(Constant(16, device)));
    }

    private static Tensor Constant(long value, Device device)
    {
        using var s = value.ToScalar();
        return full(Array.Empty<long>(), s, ScalarType.Int64, device);
    }
}
