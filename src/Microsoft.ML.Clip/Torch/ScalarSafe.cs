using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Clip.Torch;

/// <summary>
/// Tensor operations with scalar operands that are safe under concurrent garbage collection.
/// </summary>
/// <remarks>
/// Why: TorchSharp 0.107 turns the scalar of <c>a + b</c> (its implicit alpha of 1), <c>x * 2.0</c>,
/// <c>clamp_(0, 1)</c> or <c>arange(n)</c> into a finalizable <see cref="Scalar"/> and passes only its native
/// handle to libtorch, without keeping the object reachable. A garbage collection started by another thread
/// during the native call (a data loader decoding images, for example) finalizes the Scalar and frees it while
/// libtorch reads it: a crash, or errors such as "Expected false to be true ... toFloat". Every helper here holds
/// an explicit Scalar in a <c>using</c> until the native call has returned. Tensor-with-tensor operations that
/// take no scalar (<c>mul</c>, <c>div</c>, <c>sub</c> of two tensors, matmul, ...) need no help.
/// Reproduced by <c>ConcurrentGcTests</c>, which trains and scores while another thread forces collections.
/// </remarks>
internal static class ScalarSafe
{
    /// <summary><c>a + b</c>.</summary>
    public static Tensor Add(Tensor a, Tensor b)
    {
        using var one = 1.ToScalar();
        return a.add(b, one);
    }

    /// <summary><c>a += b</c> in place.</summary>
    public static Tensor AddInPlace(Tensor a, Tensor b, double alpha = 1)
    {
        using var s = alpha.ToScalar();
        return a.add_(b, s);
    }

    /// <summary><c>x + value</c>.</summary>
    public static Tensor Add(Tensor x, double value)
    {
        using var s = value.ToScalar();
        using var one = 1.ToScalar(); // add(Scalar) alone would create an implicit alpha
        return x.add(s, one);
    }

    /// <summary><c>x += value</c> in place.</summary>
    public static Tensor AddInPlace(Tensor x, double value)
    {
        using var s = value.ToScalar();
        using var one = 1.ToScalar(); // add_(Scalar) alone would create an implicit alpha
        return x.add_(s, one);
    }

    /// <summary><c>x · value</c>.</summary>
    public static Tensor Mul(Tensor x, double value)
    {
        using var s = value.ToScalar();
        return x.mul(s);
    }

    /// <summary><c>x ·= value</c> in place.</summary>
    public static Tensor MulInPlace(Tensor x, double value)
    {
        using var s = value.ToScalar();
        return x.mul_(s);
    }

    /// <summary><c>x / value</c>.</summary>
    public static Tensor Div(Tensor x, double value)
    {
        using var s = value.ToScalar();
        return x.div(s);
    }

    /// <summary><c>x /= value</c> in place.</summary>
    public static Tensor DivInPlace(Tensor x, double value)
    {
        using var s = value.ToScalar();
        return x.div_(s);
    }

    /// <summary><c>x ← x + value · t1 · t2</c> in place.</summary>
    public static Tensor AddcmulInPlace(Tensor x, Tensor t1, Tensor t2, double value)
    {
        using var s = value.ToScalar();
        return x.addcmul_(t1, t2, s);
    }

    /// <summary><c>x ← x + value · t1 / t2</c> in place.</summary>
    public static Tensor AddcdivInPlace(Tensor x, Tensor t1, Tensor t2, double value)
    {
        using var s = value.ToScalar();
        return x.addcdiv_(t1, t2, s);
    }

    /// <summary>Clamps <paramref name="x"/> to [min, max] in place.</summary>
    public static Tensor ClampInPlace(Tensor x, double min, double max)
    {
        using var lo = min.ToScalar();
        using var hi = max.ToScalar();
        return x.clamp_(lo, hi);
    }

    /// <summary><c>x^exponent</c>.</summary>
    public static Tensor Pow(Tensor x, double exponent)
    {
        using var s = exponent.ToScalar();
        return x.pow(s);
    }

    /// <summary>A tensor of <paramref name="shape"/> filled with <paramref name="value"/>.</summary>
    public static Tensor Full(long[] shape, double value, ScalarType dtype, Device? device = null)
    {
        using var s = value.ToScalar();
        return full(shape, s, dtype, device);
    }

    /// <summary>[start, stop) with step 1.</summary>
    public static Tensor Arange(long start, long stop, ScalarType dtype, Device? device = null)
    {
        using var a = start.ToScalar();
        using var b = stop.ToScalar();
        using var one = 1.ToScalar();
        return arange(a, b, one, dtype, device);
    }
}
