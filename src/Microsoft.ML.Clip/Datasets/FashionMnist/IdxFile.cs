using System;
using System.Buffers.Binary;
using System.IO;
using System.IO.Compression;

namespace Microsoft.ML.Clip.Datasets.FashionMnist;

/// <summary>
/// An IDX file of unsigned bytes (the MNIST format): a big-endian magic number <c>0x0000 08 nd</c> (type 0x08
/// = ubyte, nd dimensions), nd big-endian 32-bit sizes, then the items. Gzip-compressed files are recognized
/// by their first bytes.
/// </summary>
internal sealed class IdxFile : IDisposable
{
    private readonly Stream _stream;

    private IdxFile(string path, Stream stream, int[] dimensions)
    {
        Path = path;
        _stream = stream;
        Dimensions = dimensions;
    }

    public string Path { get; }

    /// <summary>The sizes from the header: the item count first.</summary>
    public int[] Dimensions { get; }

    public int Count => Dimensions[0];

    /// <summary>Bytes per item: the product of the dimensions after the first.</summary>
    public int ItemSize
    {
        get
        {
            int size = 1;
            for (int d = 1; d < Dimensions.Length; d++)
                size *= Dimensions[d];
            return size;
        }
    }

    /// <summary>Opens the file and checks the header: ubyte data with <paramref name="dimensions"/> dimensions and, for an uncompressed file, the size.</summary>
    public static IdxFile Open(string path, int dimensions, string what)
    {
        var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.SequentialScan);
        try
        {
            Span<byte> magic = stackalloc byte[4];
            int read = file.ReadAtLeast(magic, 4, throwOnEndOfStream: false);
            bool gzip = read >= 2 && magic[0] == 0x1F && magic[1] == 0x8B;
            file.Position = 0;
            Stream stream = gzip ? new BufferedStream(new GZipStream(file, CompressionMode.Decompress), 1 << 16) : file;
            var header = new byte[4 + 4 * dimensions];
            try
            {
                stream.ReadExactly(header);
            }
            catch (Exception e) when (e is EndOfStreamException or InvalidDataException)
            {
                throw new ClipDatasetException(path, null, $"too short for an IDX header of {what} ({header.Length} bytes){(gzip ? "" : $"; the file has {file.Length}")}", e);
            }
            uint expected = 0x0800u | (uint)dimensions;
            uint actual = BinaryPrimitives.ReadUInt32BigEndian(header);
            if (actual != expected)
                throw new ClipDatasetException(path, null,
                    $"magic number 0x{actual:X8} is not that of {what} (0x{expected:X8}: unsigned bytes, {dimensions} dimension(s))");
            var sizes = new int[dimensions];
            long total = 1;
            for (int d = 0; d < dimensions; d++)
            {
                sizes[d] = BinaryPrimitives.ReadInt32BigEndian(header.AsSpan(4 + 4 * d));
                if (sizes[d] < 0 || (d > 0 && sizes[d] == 0))
                    throw new ClipDatasetException(path, null, $"dimension {d} has size {sizes[d]}");
                total *= sizes[d];
            }
            if (!gzip && file.Length != header.Length + total)
                throw new ClipDatasetException(path, null,
                    $"the header promises {header.Length + total} bytes ({string.Join("×", sizes)} items and the header); the file has {file.Length}");
            return new IdxFile(path, stream, sizes);
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    /// <summary>Reads item <paramref name="index"/> (the next one); the error names the file and item if the data ends early.</summary>
    public void ReadItem(Span<byte> item, int index, string itemName)
    {
        try
        {
            _stream.ReadExactly(item);
        }
        catch (Exception e) when (e is EndOfStreamException or InvalidDataException)
        {
            throw new ClipDatasetException(Path, $"{itemName} {index}", $"the file ends before the {Count} items its header promises ({e.Message})", e);
        }
    }

    public void Dispose() => _stream.Dispose();
}
