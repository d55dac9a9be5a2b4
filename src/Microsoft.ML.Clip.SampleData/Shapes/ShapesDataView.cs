using System;
using System.Collections.Generic;
using Microsoft.ML.Data;
using Microsoft.ML.Transforms.Image;

namespace Microsoft.ML.Clip.SampleData.Shapes;

/// <summary>
/// A data view over shapes rows that makes each row when a cursor reaches it and renders pixels only for
/// cursors that read an image column. With a known count it reports its row count and can shuffle.
/// </summary>
internal sealed class ShapesDataView : IDataView
{
    public const int ImageIndex = 0;
    public const int ImageBytesIndex = 1;
    public const int CaptionIndex = 2;
    public const int LabelIndex = 3;
    public const int ShapeIndex = 4;
    public const int ColourIndex = 5;
    public const int SizeIndex = 6;
    public const int PositionIndex = 7;

    public ShapesDataView(ShapesRowSource source)
    {
        Source = source;
        var builder = new DataViewSchema.Builder();
        // A known size lets ML.NET's image transforms check shapes when the pipeline is built; 0×0 means "any".
        builder.AddColumn(ShapesColumns.Image,
            source.ImageSize > 0 ? new ImageDataViewType(source.ImageSize, source.ImageSize) : new ImageDataViewType());
        builder.AddColumn(ShapesColumns.ImageBytes, new VectorDataViewType(NumberDataViewType.Byte));
        builder.AddColumn(ShapesColumns.Caption, TextDataViewType.Instance);
        builder.AddColumn(ShapesColumns.Label, TextDataViewType.Instance);
        builder.AddColumn(ShapesColumns.Shape, TextDataViewType.Instance);
        builder.AddColumn(ShapesColumns.Colour, TextDataViewType.Instance);
        builder.AddColumn(ShapesColumns.Size, TextDataViewType.Instance);
        builder.AddColumn(ShapesColumns.Position, TextDataViewType.Instance);
        Schema = builder.ToSchema();
    }

    public ShapesRowSource Source { get; }

    // The shuffling cursor keeps a permutation of int indices.
    public bool CanShuffle => Source.Count is long count && count <= int.MaxValue;

    public DataViewSchema Schema { get; }

    public long? GetRowCount() => Source.Count;

    public DataViewRowCursor GetRowCursor(IEnumerable<DataViewSchema.Column> columnsNeeded, Random? rand = null)
    {
        ArgumentNullException.ThrowIfNull(columnsNeeded);
        var active = new bool[Schema.Count];
        foreach (var column in columnsNeeded)
        {
            if (column.Index < 0 || column.Index >= Schema.Count || Schema[column.Index].Name != column.Name)
                throw new ArgumentException($"Column '{column.Name}' is not a column of this data view.", nameof(columnsNeeded));
            active[column.Index] = true;
        }
        return new ShapesRowCursor(this, active, CanShuffle ? rand : null);
    }

    // Rows are cheap to make but rendering is the bulk of the work; one cursor keeps the order simple and the
    // consumer (a training loop) is what saturates the cores.
    public DataViewRowCursor[] GetRowCursorSet(IEnumerable<DataViewSchema.Column> columnsNeeded, int n, Random? rand = null) =>
        [GetRowCursor(columnsNeeded, rand)];
}
