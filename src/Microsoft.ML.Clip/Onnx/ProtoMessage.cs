using System;
using System.Collections.Generic;
using System.IO;
using System.Text;

namespace Microsoft.ML.Clip.Onnx;

/// <summary>
/// A protocol-buffers message built field by field and written in the wire format: the few encodings ONNX's
/// ModelProto needs (varints, 32-bit floats, length-delimited strings, bytes and sub-messages). Repeated scalars are
/// written unpacked, which every proto2 and proto3 parser accepts. Sizes are computed once, after building, so large
/// raw tensors are copied straight to the stream.
/// </summary>
internal sealed class ProtoMessage
{
    private const int Varint = 0, Fixed32 = 5, LengthDelimited = 2;
    private readonly List<(int Field, int Wire, object Value)> _fields = new();
    private long _size = -1;

    public ProtoMessage Int(int field, long value) => Add(field, Varint, value);

    public ProtoMessage Float(int field, float value) => Add(field, Fixed32, value);

    public ProtoMessage String(int field, string value) => Add(field, LengthDelimited, Encoding.UTF8.GetBytes(value));

    public ProtoMessage Bytes(int field, byte[] value) => Add(field, LengthDelimited, value);

    public ProtoMessage Message(int field, ProtoMessage value) => Add(field, LengthDelimited, value);

    public ProtoMessage Ints(int field, IEnumerable<long> values)
    {
        foreach (var v in values) Int(field, v);
        return this;
    }

    private ProtoMessage Add(int field, int wire, object value)
    {
        if (_size >= 0) throw new InvalidOperationException("The message was already measured; it cannot change.");
        _fields.Add((field, wire, value));
        return this;
    }

    /// <summary>Encoded size in bytes (computed once).</summary>
    public long Size
    {
        get
        {
            if (_size >= 0) return _size;
            long size = 0;
            foreach (var (number, wire, value) in _fields)
                size += VarintSize(Tag(number, wire)) + PayloadSize(wire, value);
            return _size = size;
        }
    }

    public void WriteTo(Stream stream)
    {
        Span<byte> fixed32 = stackalloc byte[4];
        foreach (var (number, wire, value) in _fields)
        {
            WriteVarint(stream, Tag(number, wire));
            switch (value)
            {
                case long v: WriteVarint(stream, (ulong)v); break;
                case float f: BitConverter.TryWriteBytes(fixed32, f); stream.Write(fixed32); break;
                case byte[] bytes: WriteVarint(stream, (ulong)bytes.LongLength); stream.Write(bytes); break;
                case ProtoMessage m: WriteVarint(stream, (ulong)m.Size); m.WriteTo(stream); break;
            }
        }
    }

    private static ulong Tag(int field, int wire) => ((ulong)field << 3) | (uint)wire;

    private static long PayloadSize(int wire, object value) => value switch
    {
        long v => VarintSize((ulong)v),
        float => 4,
        byte[] bytes => VarintSize((ulong)bytes.LongLength) + bytes.LongLength,
        ProtoMessage m => VarintSize((ulong)m.Size) + m.Size,
        _ => throw new InvalidOperationException($"Unexpected field value {value.GetType().Name} (wire type {wire})."),
    };

    private static int VarintSize(ulong value)
    {
        int size = 1;
        while (value >= 0x80) { value >>= 7; size++; }
        return size;
    }

    private static void WriteVarint(Stream stream, ulong value)
    {
        Span<byte> buffer = stackalloc byte[10];
        int n = 0;
        while (value >= 0x80) { buffer[n++] = (byte)(value | 0x80); value >>= 7; }
        buffer[n++] = (byte)value;
        stream.Write(buffer[..n]);
    }
}
