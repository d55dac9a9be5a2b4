namespace Microsoft.ML.Clip.Transforms.Batching;

/// <summary>Row counts of data views that may not know theirs.</summary>
internal static class DataViewRows
{
    /// <summary>The view's own count when it knows it; otherwise a pass of a cursor that reads no column.</summary>
    public static long Count(IDataView data)
    {
        if (data.GetRowCount() is long known)
            return known;
        long count = 0;
        using var cursor = data.GetRowCursor([]);
        while (cursor.MoveNext())
            count++;
        return count;
    }
}
