using System;
using System.Threading;
using Microsoft.ML.Clip.Transforms.Clip;
using Microsoft.ML.Runtime;

namespace Microsoft.ML.Clip.Transforms.Pretrain;

/// <summary>
/// One Fit's unreadable rows under <see cref="Training.TrainingRunOptions.SkipBadRows"/>: counted, and the first 100 logged
/// as warnings, across training and validation reads.
/// </summary>
internal sealed class BadRowLog(IChannel channel, bool skipBadRows)
{
    private long _count;

    /// <summary>Rows skipped so far.</summary>
    public long Count => Interlocked.Read(ref _count);

    /// <summary>The handler for <see cref="ClipInputSession"/>: null (a bad row fails the read) unless bad rows are skipped.</summary>
    public Action<ClipInputException>? Handler => skipBadRows ? Skip : null;

    private void Skip(ClipInputException error)
    {
        long count = Interlocked.Increment(ref _count);
        if (count <= 100) channel.Warning($"Skipped bad row: {error.Message}");
        else if (count == 101) channel.Warning("More bad rows skipped; further ones are only counted.");
    }
}
