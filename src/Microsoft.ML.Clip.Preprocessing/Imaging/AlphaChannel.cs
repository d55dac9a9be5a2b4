using System;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Microsoft.ML.Clip.Imaging;

/// <summary>
/// Transparency helpers that reproduce what PIL does to an <c>RGBA</c> image in open_clip's transform:
/// <c>Image.resize</c> premultiplies (<c>RGBa</c>), resizes, and divides the alpha back out; the later
/// <c>convert('RGB')</c> then drops the alpha. All three steps use Pillow's integer formulas.
/// </summary>
internal static unsafe class AlphaChannel
{
    /// <summary>
    /// Whether every pixel of the rows is opaque. For opaque pixels premultiplying and unpremultiplying are the
    /// identity and a resized alpha stays 255, so such images take the cheaper path with identical results.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static bool AllOpaque(byte* rows, int stride, int width, int rowCount)
    {
        // Four pixels per compare: AND everything together and test the alpha bytes once per row.
        var alphaMask = Vector128.Create(0xFF000000u);
        for (int y = 0; y < rowCount; y++)
        {
            uint* p = (uint*)(rows + (long)y * stride);
            var all = Vector128<uint>.AllBitsSet;
            int x = 0;
            for (; x + 4 <= width; x += 4) all &= Vector128.Load(p + x);
            if ((all & alphaMask) != alphaMask) return false;
            for (; x < width; x++)
                if (p[x] < 0xFF000000u) return false;
        }
        return true;
    }

    /// <summary>
    /// Pillow's RGBA→RGBa conversion on every pixel of the rows: each colour byte becomes
    /// <c>MULDIV255(c, a) = (t + (t &gt;&gt; 8)) &gt;&gt; 8</c> with <c>t = c·a + 128</c>, i.e. c·a/255 rounded.
    /// The alpha byte is at index 3 of each pixel in every supported 4-byte layout.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Premultiply(byte* source, int sourceStride, int width, int rowCount, byte* destination, int destinationStride)
    {
        for (int y = 0; y < rowCount; y++)
        {
            byte* s = source + (long)y * sourceStride;
            byte* d = destination + (long)y * destinationStride;
            for (int x = 0; x < width; x++, s += 4, d += 4)
            {
                uint a = s[3];
                d[0] = MulDiv255(s[0], a);
                d[1] = MulDiv255(s[1], a);
                d[2] = MulDiv255(s[2], a);
                d[3] = (byte)a;
            }
        }
    }

    /// <summary>
    /// Pillow's RGBa→RGBA conversion of one colour byte: unchanged where alpha is 0 or 255, else
    /// <c>min(255, 255·c / a)</c> with integer (truncating) division.
    /// </summary>
    public static byte Unpremultiply(byte color, byte alpha)
    {
        if (alpha == 255 || alpha == 0) return color;
        uint v = 255u * color / alpha;
        return (byte)(v > 255 ? 255 : v);
    }

    private static byte MulDiv255(uint color, uint alpha)
    {
        uint t = color * alpha + 128;
        return (byte)(((t >> 8) + t) >> 8);
    }
}
