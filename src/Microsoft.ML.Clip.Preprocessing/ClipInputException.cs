using System;

namespace Microsoft.ML.Clip;

/// <summary>
/// An input could not be read: the message names the column (or, for the embedding generators, the kind of input),
/// the row (or the input's index in the call) and the problem.
/// </summary>
/// <remarks>
/// Defined in this assembly (no TorchSharp, no ML.NET) so that deployments of an exported ONNX model throw the same
/// type as the ML.NET stages; <c>Microsoft.ML.Clip</c> forwards the type here.
/// </remarks>
public sealed class ClipInputException : InvalidOperationException
{
    /// <summary>Creates the exception.</summary>
    public ClipInputException(string column, long row, Exception inner)
        : base($"Column '{column}', row {row}: {inner.Message}", inner)
    {
        Column = column;
        Row = row;
    }

    /// <summary>The input column (for the embedding generators: <c>image</c> or <c>text</c>).</summary>
    public string Column { get; }

    /// <summary>0-based position of the row in the input (for the embedding generators: the input's index in the call).</summary>
    public long Row { get; }
}
