using System;
using System.Buffers.Binary;
using System.IO;
using System.IO.Compression;
using System.Linq;
using Microsoft.ML.Clip.Datasets;
using Microsoft.ML.Data;
using Xunit;

namespace Microsoft.ML.Clip.Tests.Datasets;

public class FashionMnistTests
{
    private static byte[] Gzip(byte[] data)
    {
        var output = new MemoryStream();
        using (var gz = new GZipStream(output, CompressionLevel.Fastest, leaveOpen: true))
            gz.Write(data);
        return output.ToArray();
    }

    /// <summary>Image i is filled with the value 40·i + 10, so decoded pixels can be checked.</summary>
    private static (byte[] Images, byte[] Labels) Files(byte[] labels)
    {
        var pixels = new byte[labels.Length * 28 * 28];
        for (int i = 0; i < labels.Length; i++)
            pixels.AsSpan(i * 784, 784).Fill((byte)(40 * i + 10));
        return (DatasetTestData.Idx(0x803, [labels.Length, 28, 28], pixels), DatasetTestData.Idx(0x801, [labels.Length], labels));
    }

    [Fact]
    public void GzipAndPlainIdxFilesGivePngImagesClassNamesAndCaptions()
    {
        using var dir = new TempDirectory();
        var (images, labels) = Files([0, 9, 5]);
        File.WriteAllBytes(dir.File("t10k-images-idx3-ubyte.gz"), Gzip(images));
        File.WriteAllBytes(dir.File("t10k-labels-idx1-ubyte"), labels);

        var view = new MLContext().Data.LoadFashionMnist(dir.Path, FashionMnistSplit.Test);
        DatasetTestData.AssertImageBytesColumn(view);
        Assert.Equal(3, view.GetRowCount());
        var rows = DatasetTestData.ReadAll(view);
        Assert.Equal(["T-shirt/top", "Ankle boot", "Sandal"], rows.Select(r => r.Extra[ClipDatasetColumns.Label]));
        Assert.Equal("a photo of a ankle boot.", rows[1].Caption);
        using var image = MLImage.CreateFromStream(new MemoryStream(rows[2].Image));
        Assert.Equal(28, image.Width);
        Assert.Equal(28, image.Height);
        Assert.Equal(90, image.Pixels[0]);
    }

    [Fact]
    public void SeveralTemplatesAreUsedInTurn()
    {
        using var dir = new TempDirectory();
        var (images, labels) = Files([0, 1, 2]);
        File.WriteAllBytes(dir.File("t10k-images-idx3-ubyte"), images);
        File.WriteAllBytes(dir.File("t10k-labels-idx1-ubyte"), labels);
        var options = new FashionMnistOptions { CaptionTemplates = ["a photo of a {}.", "the {}, a garment."] };
        var rows = DatasetTestData.ReadAll(new MLContext().Data.LoadFashionMnist(dir.Path, FashionMnistSplit.Test, options));
        Assert.Equal(["a photo of a t-shirt/top.", "the trouser, a garment.", "a photo of a pullover."], rows.Select(r => r.Caption));
        Assert.Throws<ArgumentException>(() => new MLContext().Data.LoadFashionMnist(dir.Path, FashionMnistSplit.Test,
            new FashionMnistOptions { CaptionTemplates = ["no placeholder"] }));
    }

    [Fact]
    public void WrongMagicSizeOrCountIsReportedNamingTheFile()
    {
        using var dir = new TempDirectory();
        var (images, labels) = Files([1, 2]);
        var ml = new MLContext();

        File.WriteAllBytes(dir.File("train-images-idx3-ubyte"), images);
        File.WriteAllBytes(dir.File("train-labels-idx1-ubyte"), images);
        var magic = Assert.Throws<ClipDatasetException>(() => ml.Data.LoadFashionMnist(dir.Path, FashionMnistSplit.Train));
        Assert.EndsWith("train-labels-idx1-ubyte", magic.FilePath);
        Assert.Contains("magic number 0x00000803", magic.Message);

        File.WriteAllBytes(dir.File("train-labels-idx1-ubyte"), labels);
        File.WriteAllBytes(dir.File("train-images-idx3-ubyte"), images[..^5]);
        var size = Assert.Throws<ClipDatasetException>(() => ml.Data.LoadFashionMnist(dir.Path, FashionMnistSplit.Train));
        Assert.EndsWith("train-images-idx3-ubyte", size.FilePath);
        Assert.Contains("the file has 1579", size.Message);

        File.WriteAllBytes(dir.File("train-images-idx3-ubyte"), images);
        File.WriteAllBytes(dir.File("train-labels-idx1-ubyte"), DatasetTestData.Idx(0x801, [3], [1, 2, 3]));
        var count = Assert.Throws<ClipDatasetException>(() => ml.Data.LoadFashionMnist(dir.Path, FashionMnistSplit.Train));
        Assert.Contains("3 labels for 2 images", count.Message);

        // A compressed file's size is only known by reading it: the image where it ends is named.
        File.Delete(dir.File("train-images-idx3-ubyte"));
        File.WriteAllBytes(dir.File("train-images-idx3-ubyte.gz"), Gzip(DatasetTestData.Idx(0x803, [3, 28, 28], images[16..])));
        var view = ml.Data.LoadFashionMnist(dir.Path, FashionMnistSplit.Train);
        var truncated = Assert.Throws<ClipDatasetException>(() => DatasetTestData.ReadAll(view));
        Assert.Equal("image 2", truncated.Record);
    }
}
