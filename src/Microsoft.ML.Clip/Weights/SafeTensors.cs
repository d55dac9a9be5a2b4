using System;
using System.Buffers.Binary;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text;
using System.Text.Json;
using Microsoft.ML.Clip.IO;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Clip.Weights;

/// <summary>
/// Reads and writes the safetensors format: an 8-byte little-endian header length, a JSON header
/// (<c>dtype</c>, <c>shape</c>, <c>data_offsets</c> per tensor, optional <c>__metadata__</c>), then raw
/// little-endian data. Everything in the header is validated before any tensor is allocated, so a corrupt
/// or hostile file yields a <see cref="SafeTensorsFormatException"/>, never an out-of-memory or a hang.
/// </summary>
public static class SafeTensors
{
    /// <summary>Largest header accepted by default (100 MB, as the reference implementation).</summary>
    public const long DefaultMaxHeaderBytes = 100_000_000;

    private const int MaxRank = 8;

    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    /// <summary>Reads and validates the header of a safetensors stream positioned at its start.</summary>
    /// <param name="stream">A readable, seekable stream.</param>
    /// <param name="source">Name used in error messages (usually the file path).</param>
    /// <param name="maxHeaderBytes">Upper bound for the JSON header size.</param>
    internal static SafeTensorsHeader ReadHeader(Stream stream, string source = "stream", long maxHeaderBytes = DefaultMaxHeaderBytes)
    {
        long start = stream.Position;
        long available = stream.Length - start;
        if (available < 8)
            throw Error(source, $"is {available} bytes long; a safetensors file starts with an 8-byte header length.");

        Span<byte> lengthBytes = stackalloc byte[8];
        stream.ReadExactly(lengthBytes);
        ulong headerLength = BinaryPrimitives.ReadUInt64LittleEndian(lengthBytes);
        if (headerLength < 2 || headerLength > (ulong)maxHeaderBytes)
            throw Error(source, $"declares a header of {headerLength} bytes; expected between 2 and {maxHeaderBytes}.");
        if (headerLength > (ulong)(available - 8))
            throw Error(source, $"declares a header of {headerLength} bytes but only {available - 8} bytes follow (truncated file?).");

        var json = new byte[headerLength];
        stream.ReadExactly(json);
        long dataStart = start + 8 + (long)headerLength;
        long dataLength = stream.Length - dataStart;

        // JsonDocument accepts some invalid UTF-8 inside strings and fails only when they are read; reject it up front.
        try { StrictUtf8.GetCharCount(json); }
        catch (DecoderFallbackException) { throw Error(source, "has a header that is not valid UTF-8."); }
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(json, new JsonDocumentOptions { MaxDepth = 8 });
        }
        catch (JsonException ex)
        {
            throw Error(source, $"has a header that is not valid JSON: {ex.Message}");
        }

        using (doc)
        {
            if (doc.RootElement.ValueKind != JsonValueKind.Object)
                throw Error(source, "has a header that is not a JSON object.");

            var entries = new List<SafeTensorsEntry>();
            var metadata = new Dictionary<string, string>();
            var names = new HashSet<string>(StringComparer.Ordinal);
            foreach (var property in doc.RootElement.EnumerateObject())
            {
                if (!names.Add(property.Name))
                    throw Error(source, $"names the tensor '{property.Name}' twice.");
                if (property.Name == "__metadata__")
                {
                    ReadMetadata(property.Value, metadata, source);
                    continue;
                }
                entries.Add(ReadEntry(property.Name, property.Value, dataLength, source));
            }

            CheckNoOverlap(entries, source);
            return new SafeTensorsHeader(entries, metadata, dataStart);
        }
    }

    /// <summary>Loads every tensor of a safetensors file onto the CPU.</summary>
    /// <param name="path">The file.</param>
    /// <param name="maxHeaderBytes">Upper bound for the JSON header size.</param>
    /// <returns>Tensors by name, in file order. The caller owns (and disposes) them.</returns>
    public static Dictionary<string, Tensor> Load(string path, long maxHeaderBytes = DefaultMaxHeaderBytes)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
        return Load(stream, path, maxHeaderBytes);
    }

    /// <summary>Loads every tensor of a safetensors stream onto the CPU.</summary>
    /// <param name="stream">A readable, seekable stream positioned at the start of the safetensors data.</param>
    /// <param name="source">Name used in error messages.</param>
    /// <param name="maxHeaderBytes">Upper bound for the JSON header size.</param>
    public static Dictionary<string, Tensor> Load(Stream stream, string source = "stream", long maxHeaderBytes = DefaultMaxHeaderBytes)
    {
        var header = ReadHeader(stream, source, maxHeaderBytes);
        var result = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        try
        {
            foreach (var entry in header.Entries)
                result.Add(entry.Name, ReadTensor(stream, header, entry, source));
        }
        catch
        {
            foreach (var t in result.Values) t.Dispose();
            throw;
        }
        return result;
    }

    /// <summary>Reads one tensor described by <paramref name="entry"/> of a validated header.</summary>
    internal static Tensor ReadTensor(Stream stream, SafeTensorsHeader header, SafeTensorsEntry entry, string source = "stream")
    {
        if (entry.ByteLength > Array.MaxLength)
            throw Error(source, $"holds tensor '{entry.Name}' of {entry.ByteLength} bytes; tensors over 2 GB are not supported.");
        stream.Position = header.DataStart + entry.Begin;
        var tensor = empty(entry.Shape, entry.DType);
        try
        {
            if (entry.ByteLength > 0)
                stream.ReadExactly(tensor.bytes);
            return tensor;
        }
        catch (EndOfStreamException)
        {
            tensor.Dispose();
            throw Error(source, $"ends inside tensor '{entry.Name}'.");
        }
    }

    /// <summary>Writes tensors in safetensors format.</summary>
    /// <param name="tensors">Tensors by name (any device and layout; they are copied to contiguous CPU memory).</param>
    /// <param name="stream">The destination.</param>
    /// <param name="metadata">Optional string metadata stored under <c>__metadata__</c>.</param>
    public static void Save(IEnumerable<KeyValuePair<string, Tensor>> tensors, Stream stream, IReadOnlyDictionary<string, string>? metadata = null)
    {
        var list = tensors.ToList();
        var headerJson = BuildHeader(list, metadata);

        Span<byte> lengthBytes = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(lengthBytes, (ulong)headerJson.Length);
        stream.Write(lengthBytes);
        stream.Write(headerJson);
        foreach (var (_, tensor) in list)
        {
            using var cpu = tensor.detach().cpu().contiguous();
            if (cpu.numel() > 0)
                stream.Write(cpu.bytes);
        }
    }

    /// <summary>
    /// Writes tensors to a safetensors file atomically: a temporary file in the same folder is written,
    /// flushed to disk, then renamed over <paramref name="path"/>, so readers never see a partial file.
    /// </summary>
    public static void Save(IEnumerable<KeyValuePair<string, Tensor>> tensors, string path, IReadOnlyDictionary<string, string>? metadata = null)
    {
        AtomicFile.Write(path, stream => Save(tensors, stream, metadata));
    }

    private static byte[] BuildHeader(List<KeyValuePair<string, Tensor>> tensors, IReadOnlyDictionary<string, string>? metadata)
    {
        using var buffer = new MemoryStream();
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            if (metadata is { Count: > 0 })
            {
                writer.WriteStartObject("__metadata__");
                foreach (var (key, value) in metadata) writer.WriteString(key, value);
                writer.WriteEndObject();
            }
            long offset = 0;
            foreach (var (name, tensor) in tensors)
            {
                long bytes = tensor.numel() * tensor.element_size();
                writer.WriteStartObject(name);
                writer.WriteString("dtype", SafeTensorsDType.Name(tensor.dtype));
                writer.WriteStartArray("shape");
                foreach (var d in tensor.shape) writer.WriteNumberValue(d);
                writer.WriteEndArray();
                writer.WriteStartArray("data_offsets");
                writer.WriteNumberValue(offset);
                writer.WriteNumberValue(offset + bytes);
                writer.WriteEndArray();
                writer.WriteEndObject();
                offset += bytes;
            }
            writer.WriteEndObject();
        }
        // The format pads the header with spaces to a multiple of 8 so the data section is aligned.
        int padded = (int)((buffer.Length + 7) / 8 * 8);
        var header = new byte[padded];
        buffer.ToArray().CopyTo(header, 0);
        for (int i = (int)buffer.Length; i < padded; i++) header[i] = (byte)' ';
        return header;
    }

    private static void ReadMetadata(JsonElement element, Dictionary<string, string> metadata, string source)
    {
        if (element.ValueKind != JsonValueKind.Object)
            throw Error(source, "has a __metadata__ entry that is not an object of strings.");
        foreach (var item in element.EnumerateObject())
        {
            if (item.Value.ValueKind != JsonValueKind.String)
                throw Error(source, $"has a non-string __metadata__ value for '{item.Name}'.");
            metadata[item.Name] = item.Value.GetString()!;
        }
    }

    private static SafeTensorsEntry ReadEntry(string name, JsonElement element, long dataLength, string source)
    {
        if (element.ValueKind != JsonValueKind.Object)
            throw Error(source, $"describes tensor '{name}' with something other than an object.");
        if (!element.TryGetProperty("dtype", out var dtypeElement) || dtypeElement.ValueKind != JsonValueKind.String)
            throw Error(source, $"gives tensor '{name}' no dtype.");
        string dtypeName = dtypeElement.GetString()!;
        if (!SafeTensorsDType.TryParse(dtypeName, out var dtype, out int elementSize))
            throw Error(source, $"gives tensor '{name}' the unsupported dtype '{dtypeName}'.");

        if (!element.TryGetProperty("shape", out var shapeElement) || shapeElement.ValueKind != JsonValueKind.Array)
            throw Error(source, $"gives tensor '{name}' no shape array.");
        int rank = shapeElement.GetArrayLength();
        if (rank > MaxRank)
            throw Error(source, $"gives tensor '{name}' rank {rank}; at most {MaxRank} is supported.");
        var shape = new long[rank];
        long count = 1;
        for (int i = 0; i < rank; i++)
        {
            var d = shapeElement[i];
            if (d.ValueKind != JsonValueKind.Number || !d.TryGetInt64(out shape[i]) || shape[i] < 0)
                throw Error(source, $"gives tensor '{name}' an invalid dimension {d}.");
            try { count = checked(count * shape[i]); }
            catch (OverflowException) { throw Error(source, $"gives tensor '{name}' a shape whose size overflows."); }
        }

        if (!element.TryGetProperty("data_offsets", out var offsets) || offsets.ValueKind != JsonValueKind.Array
            || offsets.GetArrayLength() != 2
            || !offsets[0].TryGetInt64(out long begin) || !offsets[1].TryGetInt64(out long end))
            throw Error(source, $"gives tensor '{name}' no valid data_offsets pair.");
        if (begin < 0 || end < begin)
            throw Error(source, $"gives tensor '{name}' the invalid byte range [{begin}, {end}).");
        if (end > dataLength)
            throw Error(source, $"places tensor '{name}' at bytes [{begin}, {end}) but the data section holds {dataLength} bytes (truncated file?).");
        long expected;
        try { expected = checked(count * elementSize); }
        catch (OverflowException) { throw Error(source, $"gives tensor '{name}' a shape whose size overflows."); }
        if (end - begin != expected)
            throw Error(source, $"gives tensor '{name}' {end - begin} bytes but {dtypeName}[{string.Join(", ", shape)}] needs {expected}.");

        return new SafeTensorsEntry(name, dtype, shape, begin, end);
    }

    private static void CheckNoOverlap(List<SafeTensorsEntry> entries, string source)
    {
        var ordered = entries.Where(e => e.ByteLength > 0).OrderBy(e => e.Begin).ToList();
        for (int i = 1; i < ordered.Count; i++)
            if (ordered[i].Begin < ordered[i - 1].End)
                throw Error(source, $"stores tensors '{ordered[i - 1].Name}' and '{ordered[i].Name}' in overlapping bytes.");
    }

    private static SafeTensorsFormatException Error(string source, string problem) =>
        new($"Safetensors '{source}' {problem}");
}
