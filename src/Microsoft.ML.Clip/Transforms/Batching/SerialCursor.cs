using System;
using System.Collections.Generic;
using Microsoft.ML;

namespace Microsoft.ML.Clip.Transforms.Batching;

/// <summary>
/// Cursors that compute their values on the caller's thread, in the input's order. ML.NET may otherwise hand
/// out a consolidating cursor that computes upstream stages (image loading, say) on its own worker threads:
/// a failure then surfaces rows away from the row that caused it, and two cursors need not agree on the order.
/// The library runs its own read-ahead and parallel decoding, so it asks for exactly one cursor.
/// </summary>
internal static class SerialCursor
{
    public static DataViewRowCursor Create(IDataView data, IEnumerable<DataViewSchema.Column> columns, Random? random = null) =>
        data.GetRowCursorSet(columns, 1, random)[0];
}
