using System;
using System.Collections.Generic;
using System.Linq;
using Microsoft.ML.Clip.Datasets;
using Microsoft.ML.Clip.Imaging;
using Microsoft.ML.Data;
using Parquet;
using Parquet.Schema;
using Xunit;

namespace Microsoft.ML.Clip.Tests.Datasets;

/// <summary>Small images and a reader that pulls whole rows out of a dataset view.</summary>
internal static class DatasetTestData
{
    /// <summary>A valid 4×4 PNG whose pixels depend on <paramref name="seed"/>, so files differ.</summary>
    public static byte[] Png(int seed)
    {
        var rgba = new byte[4 * 4 * 4];
        for (int i = 0; i < rgba.Length; i++)
            rgba[i] = (byte)(seed * 31 + i * 7);
        return PngEncoder.EncodeRgba(rgba, 4, 4);
    }

    /// <summary>An IDX file (the MNIST format): big-endian magic and sizes, then the items.</summary>
    public static byte[] Idx(uint magic, int[] sizes, byte[] items)
    {
        var bytes = new byte[4 + 4 * sizes.Length + items.Length];
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(bytes, magic);
        for (int d = 0; d < sizes.Length; d++)
            System.Buffers.Binary.BinaryPrimitives.WriteInt32BigEndian(bytes.AsSpan(4 + 4 * d), sizes[d]);
        items.CopyTo(bytes, 4 + 4 * sizes.Length);
        return bytes;
    }

    /// <summary>A Parquet file with image, caption and id columns, one row group per array.</summary>
    public static void WriteParquet(string path, params (byte[] Image, string Caption, long Key)[][] rowGroups)
    {
        var image = new DataField<byte[]>("image");
        var caption = new DataField<string>("caption");
        var key = new DataField<long>("id");
        using var stream = System.IO.File.Create(path);
        var writer = ParquetWriter.CreateAsync(new ParquetSchema(image, caption, key), stream).GetAwaiter().GetResult();
        foreach (var rows in rowGroups)
        {
            using var group = writer.CreateRowGroup();
            group.WriteAsync(image, rows.Select(r => r.Image).ToArray()).GetAwaiter().GetResult();
            group.WriteAsync(caption, rows.Select(r => r.Caption).ToArray()).GetAwaiter().GetResult();
            group.WriteAsync<long>(key, rows.Select(r => r.Key).ToArray().AsMemory()).GetAwaiter().GetResult();
        }
        writer.DisposeAsync().AsTask().GetAwaiter().GetResult();
    }

    public sealed record Row(byte[] Image, string Caption, Dictionary<string, string> Extra);

    /// <summary>Reads every row with all columns active.</summary>
    public static List<Row> ReadAll(IDataView view, Random? rand = null) => Read(view, view.Schema, rand);

    /// <summary>Reads the given columns (ImageBytes/Caption may be absent: then empty values).</summary>
    public static List<Row> Read(IDataView view, IEnumerable<DataViewSchema.Column> columns, Random? rand = null)
    {
        var active = columns.ToArray();
        var rows = new List<Row>();
        using var cursor = view.GetRowCursor(active, rand);
        var image = active.Any(c => c.Name == ClipDatasetColumns.ImageBytes)
            ? cursor.GetGetter<VBuffer<byte>>(view.Schema[ClipDatasetColumns.ImageBytes]) : null;
        var caption = active.Any(c => c.Name == ClipDatasetColumns.Caption)
            ? cursor.GetGetter<ReadOnlyMemory<char>>(view.Schema[ClipDatasetColumns.Caption]) : null;
        var extras = active.Where(c => c.Index >= 2).Select(c => (c.Name, Get: cursor.GetGetter<ReadOnlyMemory<char>>(c))).ToArray();
        while (cursor.MoveNext())
        {
            VBuffer<byte> bytes = default;
            ReadOnlyMemory<char> text = default;
            image?.Invoke(ref bytes);
            caption?.Invoke(ref text);
            var extra = new Dictionary<string, string>();
            foreach (var (name, get) in extras)
            {
                ReadOnlyMemory<char> value = default;
                get(ref value);
                extra[name] = value.ToString();
            }
            rows.Add(new Row(bytes.DenseValues().ToArray(), text.ToString(), extra));
        }
        return rows;
    }

    public static void AssertImageBytesColumn(IDataView view)
    {
        var type = Assert.IsType<VectorDataViewType>(view.Schema[ClipDatasetColumns.ImageBytes].Type);
        Assert.Equal(NumberDataViewType.Byte, type.ItemType);
        Assert.False(type.IsKnownSize);
        Assert.Equal(TextDataViewType.Instance, view.Schema[ClipDatasetColumns.Caption].Type);
    }
}
