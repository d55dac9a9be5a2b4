using System;

namespace Microsoft.ML.Clip;

/// <summary>A row of the input could not be read: the message names the column, the row and the problem.</summary>
public sealed class ClipInputException : InvalidOperationException
{
    /// <summary>Creates the exception.</summary>
    public ClipInputException(string column, long row, Exception inner)
        : base($"Column '{column}', row {row}: {inner.Message}", inner)
    {
        Column = column;
        Row = row;
    }

    /// <summary>The input column.</summary>
    public string Column { get; }

    /// <summary>0-based position of the row in the input.</summary>
    public long Row { get; }
}
