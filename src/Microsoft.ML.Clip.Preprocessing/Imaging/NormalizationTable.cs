using System.Collections.Generic;
using System.Runtime.CompilerServices;

namespace Microsoft.ML.Clip.Imaging;

/// <summary>
/// torchvision's <c>ToTensor</c> + <c>Normalize</c> for 8-bit pixels as a lookup table, and the final write of the
/// cropped pixels into a planar (CHW) float buffer.
/// </summary>
/// <remarks>
/// A byte has only 256 values, so the float32 expression torch evaluates, <c>(v / 255f - mean) / std</c>, is
/// computed once per channel and value: the per-pixel work is then three loads and three stores with no
/// division, and the results are bit-identical to torch's float32 arithmetic.
/// </remarks>
internal sealed unsafe class NormalizationTable
{
    private readonly float[] _table = new float[3 * 256];

    public NormalizationTable(IReadOnlyList<float> mean, IReadOnlyList<float> std)
    {
        for (int c = 0; c < 3; c++)
        {
            float m = mean[c], s = std[c];
            for (int v = 0; v < 256; v++)
            {
                // Two float32 roundings, in torch's order: ToTensor's division, then Normalize's sub_ and div_.
                float unit = v / 255f;
                _table[c * 256 + v] = (unit - m) / s;
            }
        }
    }

    /// <summary>The normalized value of byte <paramref name="value"/> in channel <paramref name="channel"/> (0 = R).</summary>
    public float this[int channel, int value] => _table[channel * 256 + value];

    /// <summary>
    /// Writes a <paramref name="size"/>² block of interleaved pixels as three normalized planes (R, G, B).
    /// <paramref name="red"/>, <paramref name="green"/>, <paramref name="blue"/> are byte offsets within a pixel;
    /// with <paramref name="unpremultiply"/> the colours are first divided by the alpha at offset 3 (Pillow's rule).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public void WritePlanes(byte* pixels, long stride, int size, int bytesPerPixel, int red, int green, int blue, bool unpremultiply, float* destination)
    {
        int plane = size * size;
        fixed (float* table = _table)
        {
            float* rt = table, gt = table + 256, bt = table + 512;
            float* rd = destination, gd = destination + plane, bd = destination + 2 * plane;
            for (int y = 0; y < size; y++)
            {
                byte* p = pixels + y * stride;
                int o = y * size;
                if (unpremultiply)
                {
                    for (int x = 0; x < size; x++, p += bytesPerPixel)
                    {
                        byte a = p[3];
                        rd[o + x] = rt[AlphaChannel.Unpremultiply(p[red], a)];
                        gd[o + x] = gt[AlphaChannel.Unpremultiply(p[green], a)];
                        bd[o + x] = bt[AlphaChannel.Unpremultiply(p[blue], a)];
                    }
                }
                else
                {
                    for (int x = 0; x < size; x++, p += bytesPerPixel)
                    {
                        rd[o + x] = rt[p[red]];
                        gd[o + x] = gt[p[green]];
                        bd[o + x] = bt[p[blue]];
                    }
                }
            }
        }
    }
}
