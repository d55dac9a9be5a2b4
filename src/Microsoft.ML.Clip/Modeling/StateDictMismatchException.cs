using System.Collections.Generic;
using System.IO;

namespace Microsoft.ML.Clip.Modeling;

/// <summary>
/// A strict state-dict load found tensors missing, unexpected or of the wrong shape. The message lists them all
/// by name with shapes; the lists are also available as properties. Nothing was copied into the model.
/// </summary>
public sealed class StateDictMismatchException : IOException
{
    /// <summary>Creates the exception.</summary>
    public StateDictMismatchException(string message, IReadOnlyList<string> missing, IReadOnlyList<string> unexpected, IReadOnlyList<string> mismatched)
        : base(message)
    {
        Missing = missing;
        Unexpected = unexpected;
        Mismatched = mismatched;
    }

    /// <summary>Names the model has but the source lacks.</summary>
    public IReadOnlyList<string> Missing { get; }

    /// <summary>Names the source has but the model lacks.</summary>
    public IReadOnlyList<string> Unexpected { get; }

    /// <summary>Names present in both with different shapes (or a non-floating source for a floating parameter).</summary>
    public IReadOnlyList<string> Mismatched { get; }
}
