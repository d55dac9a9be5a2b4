namespace Microsoft.ML.Clip.Datasets;

/// <summary>Options shared by the dataset loaders of <see cref="ClipDataLoaders"/>.</summary>
public abstract class ClipDatasetOptions
{
    /// <summary>
    /// Skip malformed records (a missing image file, bytes that are not an image, a sample without caption, a
    /// truncated shard) instead of failing. Skipped records are counted in
    /// <see cref="ClipDatasetView.SkippedRecords"/> and logged as warnings on the <see cref="MLContext"/>'s log.
    /// False (the default) fails with a <see cref="ClipDatasetException"/> naming the file and record.
    /// </summary>
    public bool SkipBadRecords { get; set; }

    /// <summary>
    /// Check that image bytes start with a signature of a format the CLIP stages decode (JPEG, PNG, WebP, GIF, BMP, ICO) when a
    /// cursor reaches the record. Cheap (no decoding); turn off for other encodings. Default true.
    /// </summary>
    public bool ValidateImageSignature { get; set; } = true;

    /// <summary>
    /// Shuffle every cursor even when the caller passes no random generator: the n-th cursor (0-based) uses
    /// <c>new Random(Seed + n)</c>, so epochs differ and runs repeat. Cursors given a generator (ML.NET's
    /// convention) shuffle with it whatever this says.
    /// </summary>
    public bool Shuffle { get; set; }

    /// <summary>Seed of <see cref="Shuffle"/>. Default 0.</summary>
    public int Seed { get; set; }

    /// <summary>
    /// Records held in the shuffle buffer: a shuffling cursor fills it, then emits a random record and replaces
    /// it with the next one read. Larger mixes better and holds more images in memory. Default 1000.
    /// </summary>
    public int ShuffleBufferSize { get; set; } = 1000;
}
