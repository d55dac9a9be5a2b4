using System;
using System.Collections.Generic;
using System.Formats.Tar;
using System.IO;
using System.Linq;
using System.Text;
using Microsoft.ML.Clip.Datasets;
using Xunit;

namespace Microsoft.ML.Clip.Tests.Datasets;

public class WebDatasetAndParquetTests
{
    /// <summary>Writes a shard of (member name, content) in order, as img2dataset does.</summary>
    private static void WriteShard(string path, IEnumerable<(string Name, byte[] Data)> members)
    {
        using var stream = File.Create(path);
        using var writer = new TarWriter(stream, TarEntryFormat.Pax, leaveOpen: false);
        foreach (var (name, data) in members)
            writer.WriteEntry(new PaxTarEntry(TarEntryType.RegularFile, name) { DataStream = new MemoryStream(data) });
    }

    private static IEnumerable<(string, byte[])> Sample(int i, bool image = true, bool caption = true, bool json = false)
    {
        string key = $"{i:D9}";
        if (image) yield return ($"{key}.png", DatasetTestData.Png(i));
        if (caption) yield return ($"{key}.txt", Encoding.UTF8.GetBytes($"caption {i}\n"));
        if (json) yield return ($"{key}.json", Encoding.UTF8.GetBytes($"{{\"key\":\"{key}\"}}"));
    }

    [Fact]
    public void ShardsAreReadInOrderGroupedByKeyAndShuffledRepeatablyWithASeed()
    {
        using var dir = new TempDirectory();
        WriteShard(dir.File("000000.tar"), Enumerable.Range(0, 4).SelectMany(i => Sample(i, json: i == 1)));
        WriteShard(dir.File("000001.tar"), Enumerable.Range(4, 4).SelectMany(i => Sample(i)));
        var ml = new MLContext();

        var view = ml.Data.LoadFromWebDataset(dir.Path);
        DatasetTestData.AssertImageBytesColumn(view);
        var rows = DatasetTestData.ReadAll(view);
        Assert.Equal(Enumerable.Range(0, 8).Select(i => $"caption {i}"), rows.Select(r => r.Caption));
        Assert.Equal("000000005", rows[5].Extra[ClipDatasetColumns.Key]);
        Assert.Equal(Path.GetFullPath(dir.File("000001.tar")), rows[5].Extra[ClipDatasetColumns.Source]);
        Assert.Equal("{\"key\":\"000000001\"}", rows[1].Extra[ClipDatasetColumns.Json]);
        Assert.Equal("", rows[2].Extra[ClipDatasetColumns.Json]);
        Assert.Equal(DatasetTestData.Png(6), rows[6].Image);

        var options = new WebDatasetOptions { Shuffle = true, Seed = 5, ShuffleBufferSize = 3 };
        var first = DatasetTestData.ReadAll(ml.Data.LoadFromWebDataset(dir.Path, options)).Select(r => r.Caption).ToList();
        var second = DatasetTestData.ReadAll(ml.Data.LoadFromWebDataset(dir.Path, options)).Select(r => r.Caption).ToList();
        Assert.Equal(first, second);
        Assert.NotEqual(rows.Select(r => r.Caption), first);
        Assert.Equal(rows.Select(r => r.Caption).Order(), first.Order());
        // A view's next cursor (the next epoch) uses the next seed.
        var shuffling = ml.Data.LoadFromWebDataset(dir.Path, options);
        DatasetTestData.ReadAll(shuffling);
        Assert.NotEqual(first, DatasetTestData.ReadAll(shuffling).Select(r => r.Caption));
    }

    [Fact]
    public void SamplesWithoutImageOrCaptionFailNamingShardAndKeyOrAreSkipped()
    {
        using var dir = new TempDirectory();
        WriteShard(dir.File("000000.tar"), Sample(0).Concat(Sample(1, caption: false)).Concat(Sample(2, image: false)).Concat(Sample(3)));
        var ml = new MLContext();

        var error = Assert.Throws<ClipDatasetException>(() => DatasetTestData.ReadAll(ml.Data.LoadFromWebDataset(dir.Path)));
        Assert.Equal(Path.GetFullPath(dir.File("000000.tar")), error.FilePath);
        Assert.StartsWith("sample '000000001'", error.Record);
        Assert.Contains("no caption member '000000001.txt'", error.Message);

        var view = ml.Data.LoadFromWebDataset(dir.Path, new WebDatasetOptions { SkipBadRecords = true });
        Assert.Equal(["caption 0", "caption 3"], DatasetTestData.ReadAll(view).Select(r => r.Caption));
        Assert.Equal(2, view.SkippedRecords);
        Assert.Contains("no image member", view.RecentSkips[1].Message);
        Assert.Contains("sample '000000002'", view.RecentSkips[1].Message);
    }

    [Fact]
    public void TruncatedShardFailsNamingItOrIsSkippedKeepingItsWholeSamples()
    {
        using var dir = new TempDirectory();
        WriteShard(dir.File("000000.tar"), Enumerable.Range(0, 3).SelectMany(i => Sample(i)));
        WriteShard(dir.File("000001.tar"), Enumerable.Range(3, 3).SelectMany(i => Sample(i)));
        // Cut the first shard inside the last sample's image.
        byte[] whole = File.ReadAllBytes(dir.File("000000.tar"));
        int cut = IndexOf(whole, DatasetTestData.Png(2)) + 20;
        File.WriteAllBytes(dir.File("000000.tar"), whole[..cut]);
        var ml = new MLContext();

        var error = Assert.Throws<ClipDatasetException>(() => DatasetTestData.ReadAll(ml.Data.LoadFromWebDataset(dir.Path)));
        Assert.Equal(Path.GetFullPath(dir.File("000000.tar")), error.FilePath);
        Assert.Contains("truncated", error.Message);

        var view = ml.Data.LoadFromWebDataset(dir.Path, new WebDatasetOptions { SkipBadRecords = true });
        Assert.Equal(["caption 0", "caption 1", "caption 3", "caption 4", "caption 5"], DatasetTestData.ReadAll(view).Select(r => r.Caption));
        Assert.Equal(1, view.SkippedRecords);
    }

    private static int IndexOf(byte[] haystack, byte[] needle) => haystack.AsSpan().IndexOf(needle);

    [Fact]
    public void ParquetRowGroupsAreReadInOrderAndABadImageNamesItsRow()
    {
        using var dir = new TempDirectory();
        string file = dir.File("train-00000.parquet");
        DatasetTestData.WriteParquet(file,
            [(DatasetTestData.Png(0), "zero", 100), (DatasetTestData.Png(1), "one", 101)],
            [(DatasetTestData.Png(2), "two", 102), (Encoding.ASCII.GetBytes("<html>404</html>"), "three", 103), (DatasetTestData.Png(4), "four", 104)]);
        var ml = new MLContext();

        var strict = ml.Data.LoadFromImageTextParquet(file, new ParquetImageTextOptions { KeyColumn = "id" });
        DatasetTestData.AssertImageBytesColumn(strict);
        Assert.Equal(5, strict.GetRowCount());
        var error = Assert.Throws<ClipDatasetException>(() => DatasetTestData.ReadAll(strict));
        Assert.Equal(Path.GetFullPath(file), error.FilePath);
        Assert.Equal("row 3 (row group 1)", error.Record);
        Assert.Contains("not a JPEG, PNG", error.Message);

        // Without ImageBytes the row is not checked.
        Assert.Equal(5, DatasetTestData.Read(strict, [strict.Schema[ClipDatasetColumns.Caption]]).Count);

        var view = ml.Data.LoadFromImageTextParquet([file], new ParquetImageTextOptions { KeyColumn = "id", SkipBadRecords = true });
        Assert.Null(view.GetRowCount());
        var rows = DatasetTestData.ReadAll(view);
        Assert.Equal(["zero", "one", "two", "four"], rows.Select(r => r.Caption));
        Assert.Equal(["100", "101", "102", "104"], rows.Select(r => r.Extra[ClipDatasetColumns.Key]));
        Assert.Equal(DatasetTestData.Png(4), rows[3].Image);
        Assert.Equal(1, view.SkippedRecords);
        Assert.Equal("row 3 (row group 1)", Assert.Single(view.RecentSkips).Record);
    }

    [Fact]
    public void ParquetWithoutTheCaptionColumnListsTheColumns()
    {
        using var dir = new TempDirectory();
        string file = dir.File("a.parquet");
        DatasetTestData.WriteParquet(file, [(DatasetTestData.Png(0), "zero", 1)]);
        var error = Assert.Throws<ClipDatasetException>(() =>
            new MLContext().Data.LoadFromImageTextParquet(file, new ParquetImageTextOptions { CaptionColumn = "text" }));
        Assert.Contains("no caption column 'text'", error.Message);
        Assert.Contains("caption (String)", error.Message);

        File.WriteAllText(dir.File("b.parquet"), "not parquet");
        var notParquet = Assert.Throws<ClipDatasetException>(() => new MLContext().Data.LoadFromImageTextParquet(dir.File("b.parquet")));
        Assert.Equal(Path.GetFullPath(dir.File("b.parquet")), notParquet.FilePath);
    }
}
