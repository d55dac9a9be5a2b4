using System;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Microsoft.ML.Clip.Imaging;

/// <summary>
/// The two passes of PIL's 8-bit separable resampling over interleaved pixels: each output channel is
/// <c>clip8((bias + Σ pixel·weight) &gt;&gt; 22)</c> in 32-bit integers, exactly as Pillow computes it, so the bytes
/// match PIL's; the horizontal pass's result is rounded to bytes before the vertical pass reads it, also as in PIL.
/// </summary>
/// <remarks>
/// Speed notes. The loops are marked <c>AggressiveOptimization</c>: with tiered compilation they would first run
/// as unoptimized tier-0 code (with on-stack replacement), which made the first batches of a run several times slower.
/// Channels are never split into planes: every channel of a pixel uses the same weight, so the
/// passes treat a pixel (or a run of bytes) as a vector and the pixel format does not matter until the final
/// conversion. The horizontal pass is the costly one (it reads every input pixel about four times): over 4-byte
/// pixels it widens one whole pixel into a <c>Vector128&lt;int&gt;</c> per tap (one multiply-add for all four
/// channels instead of four scalar ones), or with AVX2 two pixels into a <c>Vector256&lt;int&gt;</c>. The vertical
/// pass walks 16-byte (AVX2: 32-byte) columns of the row buffer, keeping four accumulators in registers across all
/// taps, so each intermediate byte is loaded once per tap and each output written once. Integer sums are
/// associative, so splitting them across lanes cannot change a result. Other pixel sizes (3 and 1 bytes, raw
/// inputs only) use plain scalar loops.
/// </remarks>
internal static unsafe class SeparableResampler
{
    /// <summary>
    /// Horizontal pass: for each of <paramref name="rowCount"/> rows starting at <paramref name="source"/>, writes
    /// <c>kernel.Count</c> output pixels to <paramref name="destination"/> (rows packed, <c>kernel.Count * bpp</c> bytes each).
    /// Kernel input indices are absolute columns of the source rows.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Horizontal(byte* source, int sourceStride, int rowCount, int bytesPerPixel, ResampleKernel kernel, byte* destination)
    {
        int outStride = kernel.Count * bytesPerPixel;
        fixed (int* starts = kernel.Starts)
        fixed (int* lengths = kernel.Lengths)
        fixed (int* offsets = kernel.Offsets)
        fixed (int* weights = kernel.Weights)
        fixed (int* laneWeights = bytesPerPixel == 4 && Avx2.IsSupported ? kernel.LaneWeights : null)
        {
            for (int y = 0; y < rowCount; y++)
            {
                byte* inRow = source + (long)y * sourceStride;
                byte* outRow = destination + (long)y * outStride;
                switch (bytesPerPixel)
                {
                    case 4 when laneWeights != null: HorizontalRow4Avx2(inRow, outRow, kernel.Count, starts, lengths, offsets, laneWeights); break;
                    case 4: HorizontalRow4(inRow, outRow, kernel.Count, starts, lengths, offsets, weights); break;
                    case 3: HorizontalRow3(inRow, outRow, kernel.Count, starts, lengths, offsets, weights); break;
                    default: HorizontalRow1(inRow, outRow, kernel.Count, starts, lengths, offsets, weights); break;
                }
            }
        }
    }

    /// <summary>
    /// Vertical pass: output row <c>i</c> (of <c>kernel.Count</c>) combines the rows <c>Starts[i]..</c> of the image,
    /// each <paramref name="rowBytes"/> bytes long. <paramref name="source"/> points at image row
    /// <paramref name="firstRow"/> (buffers hold only the rows the kernel reads).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Vertical(byte* source, long sourceStride, int firstRow, int rowBytes, ResampleKernel kernel, byte* destination, int destinationStride)
    {
        fixed (int* weights = kernel.Weights)
        {
            for (int i = 0; i < kernel.Count; i++)
            {
                byte* first = source + (kernel.Starts[i] - firstRow) * sourceStride;
                int taps = kernel.Lengths[i];
                int* w = weights + kernel.Offsets[i];
                byte* outRow = destination + (long)i * destinationStride;

                int x = 0;
                if (Avx2.IsSupported)
                {
                    // 32 bytes per chunk: four 8-lane accumulators, each fed by one load-and-widen (vpmovzxbd).
                    for (; x + 32 <= rowBytes; x += 32)
                    {
                        var a0 = Vector256.Create(ResampleKernel.RoundingBias);
                        var a1 = a0;
                        var a2 = a0;
                        var a3 = a0;
                        byte* p = first + x;
                        for (int t = 0; t < taps; t++, p += sourceStride)
                        {
                            var k = Vector256.Create(w[t]);
                            a0 += Avx2.ConvertToVector256Int32(p) * k;
                            a1 += Avx2.ConvertToVector256Int32(p + 8) * k;
                            a2 += Avx2.ConvertToVector256Int32(p + 16) * k;
                            a3 += Avx2.ConvertToVector256Int32(p + 24) * k;
                        }
                        var low = Vector256.Narrow(ToByteRange(a0), ToByteRange(a1)).AsUInt16();
                        var high = Vector256.Narrow(ToByteRange(a2), ToByteRange(a3)).AsUInt16();
                        Vector256.Narrow(low, high).Store(outRow + x);
                    }
                }
                for (; x + 16 <= rowBytes; x += 16)
                {
                    var a0 = Vector128.Create(ResampleKernel.RoundingBias);
                    var a1 = a0;
                    var a2 = a0;
                    var a3 = a0;
                    byte* p = first + x;
                    for (int t = 0; t < taps; t++, p += sourceStride)
                    {
                        var bytes = Vector128.Load(p);
                        var k = Vector128.Create(w[t]);
                        var (lo, hi) = Vector128.Widen(bytes);
                        var (l0, l1) = Vector128.Widen(lo);
                        var (h0, h1) = Vector128.Widen(hi);
                        a0 += l0.AsInt32() * k;
                        a1 += l1.AsInt32() * k;
                        a2 += h0.AsInt32() * k;
                        a3 += h1.AsInt32() * k;
                    }
                    var low = Vector128.Narrow(ToByteRange(a0), ToByteRange(a1)).AsUInt16();
                    var high = Vector128.Narrow(ToByteRange(a2), ToByteRange(a3)).AsUInt16();
                    Vector128.Narrow(low, high).Store(outRow + x);
                }
                for (; x < rowBytes; x++)
                {
                    int acc = ResampleKernel.RoundingBias;
                    byte* p = first + x;
                    for (int t = 0; t < taps; t++, p += sourceStride)
                        acc += *p * w[t];
                    outRow[x] = Clip8(acc);
                }
            }
        }
    }

    /// <summary>PIL's <c>clip8</c>: drop the fractional bits (arithmetic shift, so negatives floor) and clamp to a byte.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static byte Clip8(int accumulator)
    {
        int v = accumulator >> ResampleKernel.PrecisionBits;
        return (byte)(v < 0 ? 0 : v > 255 ? 255 : v);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<int> ToByteRange(Vector128<int> accumulator) =>
        Vector128.Min(Vector128.Max(Vector128.ShiftRightArithmetic(accumulator, ResampleKernel.PrecisionBits), Vector128<int>.Zero), Vector128.Create(255));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> ToByteRange(Vector256<int> accumulator) =>
        Vector256.Min(Vector256.Max(Vector256.ShiftRightArithmetic(accumulator, ResampleKernel.PrecisionBits), Vector256<int>.Zero), Vector256.Create(255));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<int> LoadPixel(byte* p)
    {
        // pmovzxbd loads and widens the four bytes in one instruction; the portable form costs two widenings.
        if (Sse41.IsSupported) return Sse41.ConvertToVector128Int32(p);
        var bytes = Vector128.CreateScalarUnsafe(Unsafe.ReadUnaligned<uint>(p)).AsByte();
        return Vector128.WidenLower(Vector128.WidenLower(bytes)).AsInt32();
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void HorizontalRow4(byte* inRow, byte* outRow, int count, int* starts, int* lengths, int* offsets, int* weights)
    {
        for (int i = 0; i < count; i++)
        {
            byte* p = inRow + starts[i] * 4;
            int* w = weights + offsets[i];
            int taps = lengths[i];
            var acc = Vector128.Create(ResampleKernel.RoundingBias);
            for (int t = 0; t < taps; t++)
                acc += LoadPixel(p + t * 4) * Vector128.Create(w[t]);
            var clipped = ToByteRange(acc);
            var packed = Vector128.Narrow(Vector128.Narrow(clipped, clipped).AsUInt16(), default);
            Unsafe.WriteUnaligned(outRow + i * 4, packed.AsUInt32().ToScalar());
        }
    }

    /// <summary>
    /// Two taps per step: two adjacent pixels widen into one 8-lane vector (vpmovzxbd) and meet their two weights,
    /// pre-spread over the matching lanes (<see cref="ResampleKernel.LaneWeights"/>), halving the instructions of
    /// the 4-lane loop. The halves are summed at the end; an odd last tap goes through the 4-lane path.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void HorizontalRow4Avx2(byte* inRow, byte* outRow, int count, int* starts, int* lengths, int* offsets, int* laneWeights)
    {
        for (int i = 0; i < count; i++)
        {
            byte* p = inRow + starts[i] * 4;
            int* w = laneWeights + offsets[i] * 4;
            int taps = lengths[i];
            var acc = Vector256<int>.Zero;
            var acc2 = Vector256<int>.Zero;
            int t = 0;
            // Unrolled to four taps per iteration: the loop's own bookkeeping was a third of its instructions.
            for (; t + 4 <= taps; t += 4)
            {
                acc += Avx2.ConvertToVector256Int32(p + t * 4) * Vector256.Load(w + t * 4);
                acc2 += Avx2.ConvertToVector256Int32(p + t * 4 + 8) * Vector256.Load(w + t * 4 + 8);
            }
            if (t + 2 <= taps)
            {
                acc += Avx2.ConvertToVector256Int32(p + t * 4) * Vector256.Load(w + t * 4);
                t += 2;
            }
            acc += acc2;
            var sum = acc.GetLower() + acc.GetUpper() + Vector128.Create(ResampleKernel.RoundingBias);
            if (t < taps)
                sum += LoadPixel(p + t * 4) * Vector128.Load(w + t * 4);
            var clipped = ToByteRange(sum);
            var packed = Vector128.Narrow(Vector128.Narrow(clipped, clipped).AsUInt16(), default);
            Unsafe.WriteUnaligned(outRow + i * 4, packed.AsUInt32().ToScalar());
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void HorizontalRow3(byte* inRow, byte* outRow, int count, int* starts, int* lengths, int* offsets, int* weights)
    {
        for (int i = 0; i < count; i++)
        {
            byte* p = inRow + starts[i] * 3;
            int* w = weights + offsets[i];
            int taps = lengths[i];
            int c0 = ResampleKernel.RoundingBias, c1 = c0, c2 = c0;
            for (int t = 0; t < taps; t++, p += 3)
            {
                int k = w[t];
                c0 += p[0] * k;
                c1 += p[1] * k;
                c2 += p[2] * k;
            }
            byte* o = outRow + i * 3;
            o[0] = Clip8(c0);
            o[1] = Clip8(c1);
            o[2] = Clip8(c2);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void HorizontalRow1(byte* inRow, byte* outRow, int count, int* starts, int* lengths, int* offsets, int* weights)
    {
        for (int i = 0; i < count; i++)
        {
            byte* p = inRow + starts[i];
            int* w = weights + offsets[i];
            int taps = lengths[i];
            int acc = ResampleKernel.RoundingBias;
            for (int t = 0; t < taps; t++)
                acc += p[t] * w[t];
            outRow[i] = Clip8(acc);
        }
    }
}
