using System;
using System.Buffers.Binary;
using System.IO;
using System.IO.Compression;

namespace Microsoft.ML.Clip.Tests;

/// <summary>
/// Hand-encoded PNG files for tests: any colour type and bit depth, every sample set to one value, written row
/// by row so that huge declared sizes (decompression bombs) stay small in memory and on disk.
/// </summary>
public static class TestPng
{
    /// <param name="width">Pixels per row.</param>
    /// <param name="height">Rows.</param>
    /// <param name="colourType">PNG colour type: 0 gray, 2 RGB, 4 gray + alpha, 6 RGBA.</param>
    /// <param name="bitDepth">Bits per sample (8 or 16).</param>
    /// <param name="value">The byte every sample byte is set to.</param>
    public static byte[] Solid(int width, int height, byte colourType, byte bitDepth, byte value)
    {
        int channels = colourType switch { 0 => 1, 2 => 3, 4 => 2, 6 => 4, _ => throw new ArgumentException("unknown colour type", nameof(colourType)) };
        var row = new byte[1 + width * channels * bitDepth / 8]; // filter byte 0, then the samples
        row.AsSpan(1).Fill(value);
        using var raw = new MemoryStream();
        using (var z = new ZLibStream(raw, CompressionLevel.SmallestSize, leaveOpen: true))
            for (int y = 0; y < height; y++) z.Write(row);

        using var png = new MemoryStream();
        png.Write([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]);
        var ihdr = new byte[13];
        BinaryPrimitives.WriteInt32BigEndian(ihdr, width);
        BinaryPrimitives.WriteInt32BigEndian(ihdr.AsSpan(4), height);
        ihdr[8] = bitDepth;
        ihdr[9] = colourType; // compression, filter and interlace methods 0
        Chunk(png, "IHDR", ihdr);
        Chunk(png, "IDAT", raw.ToArray());
        Chunk(png, "IEND", []);
        return png.ToArray();
    }

    private static void Chunk(Stream png, string type, byte[] data)
    {
        var header = new byte[8];
        BinaryPrimitives.WriteInt32BigEndian(header, data.Length);
        System.Text.Encoding.ASCII.GetBytes(type).CopyTo(header, 4);
        png.Write(header);
        png.Write(data);
        uint crc = Crc32Update(0xFFFFFFFF, header.AsSpan(4));
        crc = Crc32Update(crc, data);
        var crcBytes = new byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(crcBytes, ~crc);
        png.Write(crcBytes);
    }

    // PNG's CRC-32 (polynomial 0xEDB88320), bit by bit: test data only.
    private static uint Crc32Update(uint crc, ReadOnlySpan<byte> bytes)
    {
        foreach (byte b in bytes)
        {
            crc ^= b;
            for (int k = 0; k < 8; k++) crc = (crc & 1) != 0 ? (crc >> 1) ^ 0xEDB88320u : crc >> 1;
        }
        return crc;
    }
}
