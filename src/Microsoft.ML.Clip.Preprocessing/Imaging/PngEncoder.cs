using System;
using System.Buffers.Binary;
using System.IO;
using System.IO.Compression;

namespace Microsoft.ML.Clip.Imaging;

/// <summary>
/// A minimal PNG writer for raw pixels (Fashion-MNIST images, the sample shapes data): 8-bit RGB, one IDAT chunk, every row with the Paeth filter,
/// deflated by .NET's zlib. Skia's encoder (libpng, trying five filters per row) took 1.3–3× as long on the
/// same pixels, and encoding is most of the cost of generating an example.
/// </summary>
/// <remarks>
/// PNG is lossless, so decoded pixels are the rasterizer's on every machine. The compressed bytes are the same
/// wherever the same .NET runtime (and so the same zlib build) writes them; another zlib may pick other,
/// equally valid matches.
/// </remarks>
internal static class PngEncoder
{
    private static ReadOnlySpan<byte> Signature => [0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A];

    private static readonly uint[] CrcTable = MakeCrcTable();

    public static byte[] EncodeRgba(byte[] rgba, int width, int height)
    {
        if (rgba.Length != width * height * 4)
            throw new ArgumentException("Pixel buffer does not match the image size.", nameof(rgba));

        var output = new MemoryStream(width * height + 1024);
        output.Write(Signature);

        Span<byte> header = stackalloc byte[13];
        BinaryPrimitives.WriteInt32BigEndian(header, width);
        BinaryPrimitives.WriteInt32BigEndian(header[4..], height);
        header[8] = 8;   // bits per channel
        header[9] = 2;   // colour type: RGB
        header[10] = 0;  // deflate
        header[11] = 0;  // adaptive filtering (one filter byte per row)
        header[12] = 0;  // not interlaced
        WriteChunk(output, "IHDR"u8, header);
        WriteChunk(output, "IDAT"u8, Deflate(Filter(rgba, width, height)));
        WriteChunk(output, "IEND"u8, ReadOnlySpan<byte>.Empty);
        return output.ToArray();
    }

    /// <summary>Rows of RGB with a leading filter byte 4 (Paeth): flat areas and smooth edges become runs of zeros.</summary>
    private static byte[] Filter(byte[] rgba, int width, int height)
    {
        int stride = width * 3;
        var filtered = new byte[(stride + 1) * height];
        var previous = new byte[stride];
        var current = new byte[stride];
        for (int y = 0; y < height; y++)
        {
            int source = y * width * 4;
            for (int x = 0; x < width; x++)
            {
                current[3 * x] = rgba[source + 4 * x];
                current[3 * x + 1] = rgba[source + 4 * x + 1];
                current[3 * x + 2] = rgba[source + 4 * x + 2];
            }
            int row = y * (stride + 1);
            filtered[row] = 4;
            for (int i = 0; i < stride; i++)
            {
                int left = i >= 3 ? current[i - 3] : 0;
                int up = previous[i];
                int upLeft = i >= 3 ? previous[i - 3] : 0;
                filtered[row + 1 + i] = (byte)(current[i] - Paeth(left, up, upLeft));
            }
            (previous, current) = (current, previous);
        }
        return filtered;
    }

    /// <summary>The PNG specification's Paeth predictor: whichever neighbour is closest to left + up − upLeft.</summary>
    private static int Paeth(int left, int up, int upLeft)
    {
        int estimate = left + up - upLeft;
        int dLeft = Math.Abs(estimate - left), dUp = Math.Abs(estimate - up), dUpLeft = Math.Abs(estimate - upLeft);
        if (dLeft <= dUp && dLeft <= dUpLeft)
            return left;
        return dUp <= dUpLeft ? up : upLeft;
    }

    private static byte[] Deflate(byte[] data)
    {
        var compressed = new MemoryStream(data.Length / 2 + 64);
        using (var zlib = new ZLibStream(compressed, CompressionLevel.Optimal, leaveOpen: true))
            zlib.Write(data);
        return compressed.ToArray();
    }

    private static void WriteChunk(Stream output, ReadOnlySpan<byte> type, ReadOnlySpan<byte> data)
    {
        Span<byte> word = stackalloc byte[4];
        BinaryPrimitives.WriteInt32BigEndian(word, data.Length);
        output.Write(word);
        output.Write(type);
        output.Write(data);
        uint crc = Crc(Crc(0xFFFF_FFFFu, type), data) ^ 0xFFFF_FFFFu;
        BinaryPrimitives.WriteUInt32BigEndian(word, crc);
        output.Write(word);
    }

    /// <summary>CRC-32 (ISO 3309, reflected polynomial 0xEDB88320) over the chunk type and data, as PNG requires.</summary>
    private static uint Crc(uint crc, ReadOnlySpan<byte> bytes)
    {
        foreach (byte b in bytes)
            crc = CrcTable[(crc ^ b) & 0xFF] ^ (crc >> 8);
        return crc;
    }

    private static uint[] MakeCrcTable()
    {
        var table = new uint[256];
        for (uint n = 0; n < 256; n++)
        {
            uint c = n;
            for (int k = 0; k < 8; k++)
                c = (c & 1) != 0 ? 0xEDB8_8320u ^ (c >> 1) : c >> 1;
            table[n] = c;
        }
        return table;
    }
}
