using System;
using System.Runtime.CompilerServices;
using System.Collections.Concurrent;

namespace Microsoft.ML.Clip.Imaging;

/// <summary>
/// Fixed-point weights of PIL's antialiased bicubic or bilinear resampling along one axis, for a window of consecutive
/// output positions: for each output, the first input index, the number of taps and the taps' weights.
/// </summary>
/// <remarks>
/// <para>The arithmetic follows Pillow's <c>Resample.c</c> step by step (double precision, same operation order),
/// so the integer weights, and with them the resized bytes, are identical to PIL's:</para>
/// <list type="bullet">
/// <item>scale = in/out; when shrinking, the filter (bicubic: a = -0.5, support 2; bilinear: support 1) is stretched by the scale,
/// which is what makes the resize antialiased;</item>
/// <item>output <c>i</c> is centred at <c>(i + 0.5) * scale</c>; its taps run over
/// <c>[(int)(centre - support + 0.5), (int)(centre + support + 0.5))</c> clamped to the image, each weighted by the
/// kernel at the tap's pixel centre, then normalized to sum to 1;</item>
/// <item>weights become integers with 22 fractional bits (rounded half away from zero), leaving 8 bits for the
/// pixel and 2 for the kernel's overshoot in a 32-bit accumulator.</item>
/// </list>
/// <para>Kernels are cached per (filter, input size, output size, window): a dataset of same-sized photos computes its
/// weights once, not once per image. The cache is cleared when it outgrows its weight budget (datasets of
/// arbitrary sizes would otherwise grow it forever), and very large kernels are not cached at all.</para>
/// </remarks>
internal sealed class ResampleKernel
{
    /// <summary>Fractional bits of the fixed-point weights (PIL's <c>PRECISION_BITS</c>: 32 - 8 - 2).</summary>
    public const int PrecisionBits = 22;

    /// <summary>Added before the final shift so that it rounds to nearest instead of truncating.</summary>
    public const int RoundingBias = 1 << (PrecisionBits - 1);

    // Cache budget in weights (each costs 4 bytes, plus 16 for its lane-spread copy): about 80 MB at most. A
    // 224-pixel window of a 4000-pixel side holds about 12,000 weights, so hundreds of image sizes fit.
    private const long MaxCachedWeights = 4L << 20;

    private static readonly ConcurrentDictionary<(ClipInterpolation Filter, int InSize, long OutSize, long Start, int Count), ResampleKernel> _cache = new();
    private static long _cachedWeights;

    private int[]? _laneWeights;

    private ResampleKernel(int count, int[] starts, int[] lengths, int[] offsets, int[] weights)
    {
        Count = count;
        Starts = starts;
        Lengths = lengths;
        Offsets = offsets;
        Weights = weights;
    }

    /// <summary>Number of output positions.</summary>
    public int Count { get; }

    /// <summary>First input index read by each output.</summary>
    public int[] Starts { get; }

    /// <summary>Number of consecutive inputs read by each output.</summary>
    public int[] Lengths { get; }

    /// <summary>Index in <see cref="Weights"/> of each output's first weight (weights are packed, no padding).</summary>
    public int[] Offsets { get; }

    /// <summary>All weights, <see cref="PrecisionBits"/> fractional bits.</summary>
    public int[] Weights { get; }

    /// <summary>
    /// <see cref="Weights"/> with each weight repeated four times (at index <c>4 · j</c>), built on first use.
    /// The AVX2 horizontal pass multiplies two 4-channel pixels by two weights at once; loading the weights
    /// already spread over the lanes saves it a shuffle per step, and shuffles are what that loop is bound by.
    /// </summary>
    public int[] LaneWeights => _laneWeights ??= SpreadOverLanes(Weights);

    /// <summary>First input index read by any output of the window.</summary>
    public int InputStart => Starts[0];

    /// <summary>One past the last input index read by any output (windows move monotonically).</summary>
    public int InputEnd => Starts[Count - 1] + Lengths[Count - 1];

    /// <summary>Number of weights a window would hold, without building it (to bound working memory first).</summary>
    public static long EstimateWeights(int inSize, long outSize, int count, ResampleFilter? filter = null)
    {
        double scale = Math.Max(1.0, (double)inSize / outSize);
        return (long)count * ((long)Math.Ceiling((filter ?? ResampleFilter.Bicubic).Support * scale) * 2 + 1);
    }

    /// <summary>The kernel for outputs <c>[start, start + count)</c> of a resize from <paramref name="inSize"/> to <paramref name="outSize"/> (default filter: bicubic).</summary>
    public static ResampleKernel Get(int inSize, long outSize, long start, int count, ResampleFilter? filter = null)
    {
        System.Diagnostics.Debug.Assert(inSize > 0 && count > 0 && start >= 0 && start + count <= outSize, "window outside the output");
        filter ??= ResampleFilter.Bicubic;
        var key = (filter.Interpolation, inSize, outSize, start, count);
        if (_cache.TryGetValue(key, out var cached)) return cached;
        var kernel = Create(inSize, outSize, start, count, filter);
        int size = kernel.Weights.Length;
        if (size <= MaxCachedWeights / 4)
        {
            // Datasets of arbitrary sizes would grow the cache forever: start over when the budget is spent.
            // Racing threads may over- or under-count a little; the budget is a bound on growth, not an exact sum.
            if (System.Threading.Interlocked.Add(ref _cachedWeights, size) > MaxCachedWeights)
            {
                _cache.Clear();
                System.Threading.Interlocked.Exchange(ref _cachedWeights, size);
            }
            _cache.TryAdd(key, kernel);
        }
        return kernel;
    }

    private static int[] SpreadOverLanes(int[] weights)
    {
        var spread = new int[weights.Length * 4];
        for (int j = 0; j < weights.Length; j++)
            spread.AsSpan(4 * j, 4).Fill(weights[j]);
        return spread;
    }

    /// <summary>PIL's bicubic convolution kernel with a = -0.5 (Keys' kernel; the same expression order as Pillow).</summary>
    internal static double Bicubic(double x)
    {
        const double a = -0.5;
        if (x < 0.0) x = -x;
        if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
        if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
        return 0.0;
    }

    /// <summary>PIL's bilinear (triangle) kernel.</summary>
    internal static double Bilinear(double x)
    {
        if (x < 0.0) x = -x;
        return x < 1.0 ? 1.0 - x : 0.0;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static ResampleKernel Create(int inSize, long outSize, long start, int count, ResampleFilter filter)
    {
        // Pillow passes the box edges as C floats: (float)inSize - 0f, exact below 2^24, mirrored here for the rest.
        double scale = (double)(float)inSize / outSize;
        double filterScale = scale < 1.0 ? 1.0 : scale;
        double support = filter.Support * filterScale;
        double inverseFilterScale = 1.0 / filterScale;
        int maxTaps = (int)Math.Ceiling(support) * 2 + 1;

        var starts = new int[count];
        var lengths = new int[count];
        var offsets = new int[count];
        // Most outputs use fewer than maxTaps; sized for the worst case, then trimmed once.
        var weights = new int[checked(count * maxTaps)];
        Span<double> raw = maxTaps <= 512 ? stackalloc double[maxTaps] : new double[maxTaps];

        int used = 0;
        for (int i = 0; i < count; i++)
        {
            double center = (start + i + 0.5) * scale;
            // (int) truncates toward zero like C's cast; Pillow relies on that for the "+ 0.5" rounding.
            int min = (int)(center - support + 0.5);
            if (min < 0) min = 0;
            int max = (int)(center + support + 0.5);
            if (max > inSize) max = inSize;
            int length = max - min;

            double sum = 0.0;
            for (int x = 0; x < length; x++)
            {
                double w = filter.Weight(((x + min) - center + 0.5) * inverseFilterScale);
                raw[x] = w;
                sum += w;
            }

            starts[i] = min;
            lengths[i] = length;
            offsets[i] = used;
            for (int x = 0; x < length; x++)
            {
                double w = sum != 0.0 ? raw[x] / sum : raw[x];
                // Pillow's normalize_coeffs_8bpc: round half away from zero, then truncate to int.
                weights[used + x] = w < 0
                    ? (int)(-0.5 + w * (1 << PrecisionBits))
                    : (int)(0.5 + w * (1 << PrecisionBits));
            }
            used += length;
        }

        if (used != weights.Length) Array.Resize(ref weights, used);
        return new ResampleKernel(count, starts, lengths, offsets, weights);
    }
}
