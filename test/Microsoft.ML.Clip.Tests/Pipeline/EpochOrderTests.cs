using System;
using System.Buffers.Binary;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using Microsoft.ML.Clip.Datasets;
using Microsoft.ML.Clip.Tests.Datasets;
using Microsoft.ML.Clip.Transforms;
using Microsoft.ML.Clip.Transforms.Batching;
using Microsoft.ML.Clip.Transforms.Pretrain;
using Microsoft.ML.Data;
using Microsoft.ML.Runtime;
using Xunit;

namespace Microsoft.ML.Clip.Tests.Pipeline;

/// <summary>
/// The order ClipPretrain reads its training rows in (<see cref="EpochOrder"/>, over the same cursors Fit uses), on
/// data stored sorted by class: every epoch must be a uniformly random permutation, different every epoch and the
/// same for the same seed.
/// </summary>
public sealed class EpochOrderTests
{
    private const int Classes = 10, PerClass = 200, Rows = Classes * PerClass, Batch = 20, Epochs = 3;

    [Fact]
    public void SortedManifestIsMixedLikeRandomSamplingEveryEpoch()
    {
        using var dir = new TempDirectory();
        // Images are never read: the test reads captions only, as a cursor without the image column does.
        File.WriteAllLines(dir.File("pairs.csv"), ["path,caption", .. Enumerable.Range(0, Rows).Select(i => $"img{i}.png,class {i / PerClass}")]);
        var view = new MLContext().Data.LoadFromImageManifest(dir.File("pairs.csv"));
        AssertRandomPermutations(view, ClipDatasetColumns.Caption, caption => caption);
    }

    [Fact]
    public void ImageFolderIsMixedLikeRandomSamplingEveryEpoch()
    {
        using var dir = new TempDirectory();
        for (int c = 0; c < Classes; c++)
        {
            Directory.CreateDirectory(Path.Combine(dir.Path, $"class{c}"));
            for (int i = 0; i < PerClass; i++)
                File.WriteAllBytes(Path.Combine(dir.Path, $"class{c}", $"{i:D4}.png"), []);
        }
        AssertRandomPermutations(new MLContext().Data.LoadFromImageFolder(dir.Path), ClipDatasetColumns.Label, label => label);
    }

    [Fact]
    public void SortedFashionMnistFilesAreMixedLikeRandomSamplingEveryEpoch()
    {
        using var dir = new TempDirectory();
        var labels = Enumerable.Range(0, Rows).Select(i => (byte)(i / PerClass)).ToArray();
        File.WriteAllBytes(dir.File("train-images-idx3-ubyte"), DatasetTestData.Idx(0x803, [Rows, 28, 28], new byte[Rows * 784]));
        File.WriteAllBytes(dir.File("train-labels-idx1-ubyte"), DatasetTestData.Idx(0x801, [Rows], labels));
        var view = new MLContext().Data.LoadFashionMnist(dir.Path, FashionMnistSplit.Train);
        AssertRandomPermutations(view, ClipDatasetColumns.Label, label => label);
    }

    [Fact]
    public void ParquetInOneRowGroupIsMixedLikeRandomSamplingEveryEpoch()
    {
        using var dir = new TempDirectory();
        WriteParquet(dir.File("pairs.parquet"), [Enumerable.Range(0, Rows).Select(i => $"class {i / PerClass}").ToArray()]);
        var view = new MLContext().Data.LoadFromImageTextParquet(dir.File("pairs.parquet"));
        Assert.True(view.Source.PermutesRecords);
        AssertRandomPermutations(view, ClipDatasetColumns.Caption, caption => caption);
    }

    [Fact]
    public void CachedInMemoryRowsAreMixedLikeRandomSamplingEveryEpoch()
    {
        var ml = new MLContext();
        var rows = Enumerable.Range(0, Rows).Select(i => new CaptionRow { Caption = $"class {i / PerClass}" }).ToList();
        AssertRandomPermutations(ml.Data.Cache(ml.Data.LoadFromEnumerable(rows)), "Caption", caption => caption);
    }

    [Fact]
    public void ABufferShuffleSmallerThanTheDataIsCaughtAndWarnedAbout()
    {
        // Parquet written in 10 row groups of one class each: rows of different groups meet only in the cursor's
        // buffer. With a 500-record buffer a batch draws from about three classes; the statistic must see it.
        using var dir = new TempDirectory();
        WriteParquet(dir.File("pairs.parquet"), Enumerable.Range(0, Classes).Select(c => Enumerable.Repeat($"class {c}", PerClass).ToArray()).ToArray());
        var log = new List<string>();
        var ml = new MLContext();
        ml.Log += (_, e) => { if (e.Kind == Runtime.ChannelMessageKind.Warning) log.Add(e.Message); };
        var view = ml.Data.LoadFromImageTextParquet(dir.File("pairs.parquet"), new ParquetImageTextOptions { ShuffleBufferSize = 500 });
        var order = ChooseOrder(ml, view, seed: 1);
        var means = Epochs3(order, view, ClipDatasetColumns.Caption).Select(MeanDistinctClasses).ToArray();
        var (low, _) = RandomSamplingBounds();
        Assert.All(means, mean => Assert.True(mean < low, $"mean distinct classes per batch {mean:F2} is not below the random-sampling bound {low:F2}"));
        Assert.Contains(log, m => m.Contains("ShuffleBufferSize", StringComparison.Ordinal) && m.Contains("500", StringComparison.Ordinal));
    }

    [Fact]
    public void AViewThatCannotShuffleGoesThroughThePoolWithAWarning()
    {
        var log = new List<string>();
        var ml = new MLContext();
        ml.Log += (_, e) => { if (e.Kind == Runtime.ChannelMessageKind.Warning) log.Add(e.Message); };
        var rows = Enumerable.Range(0, Rows).Select(i => new CaptionRow { Caption = $"class {i / PerClass}" }).ToList();
        var view = ml.Data.LoadFromEnumerable(rows);
        Assert.False(view.CanShuffle);
        var order = ChooseOrder(ml, view, seed: 1, pool: 1000);
        Assert.Contains(log, m => m.Contains("shuffle pool of 1,000 rows", StringComparison.Ordinal));
        // The pool mixes within about 1000 stored rows (five classes): far from random sampling.
        var (low, _) = RandomSamplingBounds();
        Assert.True(MeanDistinctClasses(Read(order.For(0), "Caption")) < low);
    }

    [Fact]
    public void ShuffleOffReadsTheStoredOrder()
    {
        var ml = new MLContext();
        var rows = Enumerable.Range(0, Rows).Select(i => new CaptionRow { Caption = $"row {i}" }).ToList();
        var view = ml.Data.Cache(ml.Data.LoadFromEnumerable(rows));
        var order = ChooseOrder(ml, view, seed: 1, shuffle: false);
        Assert.Equal(rows.Select(r => r.Caption), Read(order.For(0), "Caption"));
        Assert.Equal(rows.Select(r => r.Caption), Read(order.For(1), "Caption"));
    }

    [Fact]
    public void ValidationSplitKeepsShufflingAndIsTheSameInEveryOrder()
    {
        using var dir = new TempDirectory();
        File.WriteAllLines(dir.File("pairs.csv"), ["path,caption", .. Enumerable.Range(0, Rows).Select(i => $"img{i}.png,row {i}")]);
        var view = new MLContext().Data.LoadFromImageManifest(dir.File("pairs.csv"));
        var (train, heldOut) = RowIdSplitView.Split(view, 0.1, seed: 3);
        Assert.True(train.CanShuffle);
        var stored = new HashSet<string>(Read((heldOut, null), ClipDatasetColumns.Caption));
        var shuffled = Read((heldOut, new Random(5)), ClipDatasetColumns.Caption);
        var trainRows = Read((train, new Random(6)), ClipDatasetColumns.Caption);
        Assert.Equal(stored, shuffled.ToHashSet());                  // row ids, not positions, decide the side
        Assert.Empty(trainRows.Intersect(stored));                     // disjoint
        Assert.Equal(Rows, trainRows.Count + stored.Count);            // and together every row
        // Binomial(2000, 0.1): sd 13.4; ±5 sd.
        Assert.InRange(stored.Count, 200 - 67, 200 + 67);
    }

    /// <summary>
    /// Each epoch is a permutation of all rows whose batches hold as many distinct classes as random sampling would;
    /// epochs differ; the same seed repeats the orders, another seed does not.
    /// </summary>
    private static void AssertRandomPermutations(IDataView view, string classColumn, Func<string, string> classOf)
    {
        var ml = new MLContext();
        var epochs = Epochs3(ChooseOrder(ml, view, seed: 7), view, classColumn).ToArray();
        var (low, high) = RandomSamplingBounds();
        foreach (var epoch in epochs)
        {
            Assert.Equal(Rows, epoch.Count);
            Assert.All(epoch.GroupBy(classOf), g => Assert.Equal(PerClass, g.Count())); // every row once (by class count)
            double mean = MeanDistinctClasses(epoch.Select(classOf).ToList());
            Assert.True(mean >= low && mean <= high, $"mean distinct classes per batch of {Batch}: {mean:F3}, random sampling: [{low:F3}, {high:F3}]");
        }
        Assert.NotEqual(epochs[0], epochs[1]);
        Assert.NotEqual(epochs[1], epochs[2]);
        Assert.Equal(epochs, Epochs3(ChooseOrder(ml, view, seed: 7), view, classColumn));
        Assert.NotEqual(epochs[0], Epochs3(ChooseOrder(ml, view, seed: 8), view, classColumn).First());
    }

    /// <summary>
    /// Bounds for the mean number of distinct classes in the batches of a uniformly random permutation, with a
    /// false-alarm rate of 0.1 %: the expected count and variance of one batch are exact (hypergeometric: a class is
    /// absent from a batch with probability a = C(N−m, B)/C(N, B), two given classes with b = C(N−2m, B)/C(N, B));
    /// the mean over the epoch's batches is taken as normal with variance Var/batches. Batches of one permutation
    /// are negatively correlated (they share no rows), so the true variance is smaller and the real false-alarm
    /// rate lower still. A class-sorted store read through a buffer of a few classes gives about 2–3 here against ~8.8.
    /// </summary>
    private static (double Low, double High) RandomSamplingBounds()
    {
        double a = 1, b = 1;
        for (int i = 0; i < Batch; i++)
        {
            a *= (double)(Rows - PerClass - i) / (Rows - i);
            b *= (double)(Rows - 2 * PerClass - i) / (Rows - i);
        }
        double mean = Classes * (1 - a);
        double variance = Classes * a * (1 - a) + Classes * (Classes - 1.0) * (b - a * a);
        double sd = Math.Sqrt(variance / (Rows / Batch));
        const double z = 3.29; // two-sided 0.1 %
        return (mean - z * sd, mean + z * sd);
    }

    private static double MeanDistinctClasses(List<string> order) =>
        order.Chunk(Batch).Where(b => b.Length == Batch).Average(b => b.Distinct().Count());

    private static EpochOrder ChooseOrder(MLContext ml, IDataView view, int seed, int pool = 1000, bool shuffle = true)
    {
        var options = new ClipPretrainOptions { Seed = seed, ShufflePoolSize = pool, Shuffle = shuffle, ImageColumnName = "none" };
        var host = ((IHostEnvironment)ml).Register("test");
        using var ch = host.Start("order");
        return EpochOrder.Choose(host, view, Rows, options, ch);
    }

    private static IEnumerable<List<string>> Epochs3(EpochOrder order, IDataView view, string column) =>
        Enumerable.Range(0, Epochs).Select(e => Read(order.For(e), column)).ToList();

    /// <summary>Reads one column through the serial cursor Fit uses.</summary>
    private static List<string> Read((IDataView View, Random? Random) epoch, string column)
    {
        var col = epoch.View.Schema[column];
        using var cursor = SerialCursor.Create(epoch.View, [col], epoch.Random);
        var getter = cursor.GetGetter<ReadOnlyMemory<char>>(col);
        var values = new List<string>();
        ReadOnlyMemory<char> value = default;
        while (cursor.MoveNext())
        {
            getter(ref value);
            values.Add(value.ToString());
        }
        return values;
    }

    /// <summary>Captions in row groups; images are small PNGs, ids count across the file.</summary>
    private static void WriteParquet(string path, string[][] rowGroups)
    {
        int id = 0;
        DatasetTestData.WriteParquet(path, rowGroups.Select(g => g.Select(c => (DatasetTestData.Png(id), c, (long)id++)).ToArray()).ToArray());
    }

    private sealed class CaptionRow
    {
        public string Caption { get; set; } = "";
    }
}
