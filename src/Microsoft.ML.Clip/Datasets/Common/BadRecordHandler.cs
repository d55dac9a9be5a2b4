using System;

namespace Microsoft.ML.Clip.Datasets.Common;

/// <summary>Throws bad-record errors, or (with <see cref="ClipDatasetOptions.SkipBadRecords"/>) counts and reports them.</summary>
internal sealed class BadRecordHandler
{
    private readonly bool _skip;
    private readonly Action<ClipDatasetException> _skipped;

    public BadRecordHandler(bool skip, Action<ClipDatasetException> skipped)
    {
        _skip = skip;
        _skipped = skipped;
    }

    /// <summary>Throws <paramref name="error"/> unless records are skipped, in which case it is counted and logged.</summary>
    public void Handle(ClipDatasetException error)
    {
        if (!_skip)
            throw error;
        _skipped(error);
    }
}
