namespace Microsoft.ML.Clip.Transforms.Batching;

/// <summary>
/// One process's rows of a stream cut into global batches of <c>Count × LocalBatchSize</c> rows: process r owns
/// the r-th block of <see cref="LocalBatchSize"/> rows of every global batch. Every process reads the same stream in
/// the same order (the epoch's seeded shuffle), so the shards are disjoint, cover the stream, change with every
/// epoch's order, and the k-th local batch of every process belongs to the k-th global batch — whatever the
/// number of processes, global batch k holds the same rows.
/// </summary>
/// <param name="Index">This process's rank.</param>
/// <param name="Count">Processes.</param>
/// <param name="LocalBatchSize">Rows of each global batch per process.</param>
internal readonly record struct RowShard(int Index, int Count, int LocalBatchSize)
{
    /// <summary>Whether the row at 0-based stream position <paramref name="position"/> is this process's.</summary>
    public bool Owns(long position) => position % ((long)Count * LocalBatchSize) / LocalBatchSize == Index;
}
