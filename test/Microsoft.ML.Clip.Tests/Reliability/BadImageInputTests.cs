using System;
using System.Linq;
using Microsoft.ML.Clip.SampleData;
using Microsoft.ML;
using Microsoft.ML.Clip.Imaging;
using Microsoft.ML.Clip.Tests.Pipeline;
using Microsoft.ML.Data;
using Xunit;

namespace Microsoft.ML.Clip.Tests.Reliability;

/// <summary>Bad image bytes fail with an error naming the column, the row and the problem.</summary>
public class BadImageInputTests
{
    private sealed class Row
    {
        public byte[] ImageBytes { get; set; } = [];
        public string Text { get; set; } = "";
    }

    private static ClipInputException ScoreWith(byte[] badImage, int badRow = 3)
    {
        var trained = ClipStagesTestsAccess.Trained;
        var mlContext = new MLContext(seed: 1);
        var rows = ColourPairs.Rows(6, seed: 30).Select(r => new Row { ImageBytes = r.ImageBytes, Text = r.Text }).ToList();
        rows[badRow].ImageBytes = badImage;
        var data = mlContext.Data.LoadFromEnumerable(rows);
        var scored = mlContext.Transforms.ClipImageEmbedding(trained.Bundle, inputColumnName: "ImageBytes").Fit(data).Transform(data);
        // The exact type, not an AggregateException from the parallel decoders or the read-ahead tasks around it.
        return Assert.Throws<ClipInputException>(() => scored.GetColumn<float[]>("ImageEmbedding").ToArray());
    }

    [Trait("Category", "Fixtures")]
    [FixtureFact]
    public void SeveralBadImagesInOneBatchSurfaceAsTheFirstOneNotAnAggregate()
    {
        var trained = ClipStagesTestsAccess.Trained;
        var mlContext = new MLContext(seed: 1);
        var rows = ColourPairs.Rows(6, seed: 30).Select(r => new Row { ImageBytes = r.ImageBytes, Text = r.Text }).ToList();
        rows[1].ImageBytes = System.Text.Encoding.UTF8.GetBytes("not an image either");
        rows[4].ImageBytes = System.Text.Encoding.UTF8.GetBytes("this is not an image");
        var data = mlContext.Data.LoadFromEnumerable(rows);
        var scored = mlContext.Transforms.ClipImageEmbedding(trained.Bundle, inputColumnName: "ImageBytes").Fit(data).Transform(data);
        var error = Assert.Throws<ClipInputException>(() => scored.GetColumn<float[]>("ImageEmbedding").ToArray());
        Assert.Equal("ImageBytes", error.Column);
        Assert.Equal(1, error.Row); // the first bad row of the batch, whichever decoder thread failed first
        Assert.Contains(nameof(SeveralBadImagesInOneBatchSurfaceAsTheFirstOneNotAnAggregate), error.StackTrace); // thrown with its stack
    }

    [Trait("Category", "Fixtures")]
    [FixtureFact]
    public void CorruptBytesNameColumnAndRow()
    {
        var error = ScoreWith(System.Text.Encoding.UTF8.GetBytes("this is not an image"));
        Assert.Equal("ImageBytes", error.Column);
        Assert.Equal(3, error.Row);
        Assert.Contains("not an image", error.Message);
    }

    [Trait("Category", "Fixtures")]
    [FixtureFact]
    public void EmptyBytesAreAnError()
    {
        var error = ScoreWith([], badRow: 2);
        Assert.Equal(2, error.Row);
        Assert.Contains("empty", error.Message);
    }

    [Trait("Category", "Fixtures")]
    [FixtureFact]
    public void TruncatedPngIsAnError()
    {
        var png = ColourPairs.Rows(1, seed: 31).First().ImageBytes;
        var error = ScoreWith(png.Take(png.Length / 3).ToArray());
        Assert.Equal(3, error.Row);
    }

    [Trait("Category", "Fixtures")]
    [FixtureFact]
    public void DecompressionBombIsRefusedBeforeDecoding()
    {
        // A 20,000 × 20,000 black PNG compresses to a few hundred kilobytes but decodes to 1.6 GB.
        var bomb = TestPng.Solid(20_000, 20_000, colourType: 0, bitDepth: 8, value: 0);
        Assert.True(bomb.Length < 2_000_000, $"the test PNG is {bomb.Length} bytes");
        var error = ScoreWith(bomb, badRow: 1);
        Assert.Equal(1, error.Row);
        var tooLarge = Assert.IsType<ImageTooLargeException>(error.InnerException);
        Assert.Equal(20_000, tooLarge.Width);
        Assert.Contains("not decoded", error.Message);
    }

}

/// <summary>The two image column kinds (MLImage and encoded bytes) give the same embeddings.</summary>
public class ImageColumnKindTests
{
    [Trait("Category", "Fixtures")]
    [FixtureFact]
    public void DecodedImagesAndEncodedBytesEmbedIdentically()
    {
        var trained = ClipStagesTestsAccess.Trained;
        var mlContext = new MLContext(seed: 1);
        var data = Microsoft.ML.Clip.SampleData.ShapesDataset.ToDataView(mlContext, new Microsoft.ML.Clip.SampleData.ShapesDatasetOptions { Count = 20, Seed = 5, ImageSize = 48 });
        var scored = mlContext.Transforms.ClipImageEmbedding(trained.Bundle, "FromImage", "Image")
            .Append(mlContext.Transforms.ClipImageEmbedding(trained.Bundle, "FromBytes", "ImageBytes"))
            .Fit(data).Transform(data);
        var fromImage = scored.GetColumn<float[]>("FromImage").ToArray();
        var fromBytes = scored.GetColumn<float[]>("FromBytes").ToArray();
        Assert.Equal(20, fromImage.Length);
        // Both decoders give the same 8-bit pixels, but the two stages preprocess them through different pixel
        // formats and compute concurrently on their own threads (the thread partition of a GEMM may differ, see
        // ConcurrencyAndMemoryTests): equal up to fp32 rounding of unit-norm components (K ≤ 256, two layers:
        // 1e-5; measured 0 here). Neighbouring images differ by > 0.01, so a row mix-up or a channel swap fails.
        for (int i = 0; i < fromImage.Length; i++)
            Approx.Equal(fromImage[i], fromBytes[i], atol: 1e-5, rtol: 0, $"image {i}: decoded vs encoded column");
        Assert.True(Approx.MaxDiff(fromImage[0], fromImage[1]) > 0.01);
    }
}

/// <summary>ClipPretrain with bad rows: a clear error by default, skipped and counted with SkipBadRows.</summary>
public class PretrainBadRowTests
{
    private sealed class Row
    {
        public byte[] ImageBytes { get; set; } = [];
        public string Text { get; set; } = "";
    }

    private static (MLContext, IDataView) DataWithBadRows(params int[] bad)
    {
        var mlContext = new MLContext(seed: 1);
        var rows = ColourPairs.Rows(64, seed: 50).Select(r => new Row { ImageBytes = r.ImageBytes, Text = r.Text }).ToList();
        foreach (int i in bad) rows[i].ImageBytes = System.Text.Encoding.UTF8.GetBytes("broken upload");
        return (mlContext, mlContext.Data.LoadFromEnumerable(rows));
    }

    private static ClipPretrainOptions Options(bool skip) => new()
    {
        Architecture = ClipStagesTests.TestArchitecture with { Vision = ClipStagesTests.TestArchitecture.Vision with { Layers = 1 }, Text = ClipStagesTests.TestArchitecture.Text with { Layers = 1 } },
        Tokenizer = ClipStagesTestsAccess.Trained.Bundle.Tokenizer,
        ImageColumnName = "ImageBytes",
        Epochs = 1,
        BatchSize = 16,
        ValidationData = null,
        ValidationFraction = 0,
        SkipBadRows = skip,
    };

    [Trait("Category", "Fixtures")]
    [FixtureFact]
    public void BadRowStopsTrainingWithColumnAndRowByDefault()
    {
        var (mlContext, data) = DataWithBadRows(5);
        // The exact type: not an AggregateException from the parallel decoders or the read-ahead tasks.
        var error = Assert.Throws<ClipInputException>(() => mlContext.Transforms.ClipPretrain(Options(skip: false)).Fit(data));
        Assert.Equal("ImageBytes", error.Column);
        Assert.Equal(5, error.Row);
        // The decoder's own failure is kept as the inner exception. (Not checked through the stack trace: the JIT may
        // inline the decoder into its caller, and then its frame is not in the trace.)
        var cause = Assert.IsType<System.IO.InvalidDataException>(error.InnerException);
        Assert.Contains("not an image", cause.Message);
    }

    [Trait("Category", "Fixtures")]
    [FixtureFact]
    public void SeveralBadRowsInOneTrainingBatchStopTrainingWithTheFirstOne()
    {
        // Three bad rows among the first 16: training shuffles, so the first batch holds some of them in an order
        // set by the seed. The error is one of them, itself (not an aggregate), and the same on every run: the first
        // bad slot of the batch, whichever decoder thread fails first.
        var (mlContext, data) = DataWithBadRows(9, 2, 14);
        var error = Assert.Throws<ClipInputException>(() => mlContext.Transforms.ClipPretrain(Options(skip: false)).Fit(data));
        Assert.Equal("ImageBytes", error.Column);
        Assert.Contains(error.Row, new long[] { 2, 9, 14 });
        for (int run = 0; run < 3; run++)
            Assert.Equal(error.Row, Assert.Throws<ClipInputException>(() => mlContext.Transforms.ClipPretrain(Options(skip: false)).Fit(data)).Row);
    }

    [Trait("Category", "Fixtures")]
    [FixtureFact]
    public void SkipBadRowsTrainsOnTheRestAndCountsThem()
    {
        var (mlContext, data) = DataWithBadRows(3, 17, 40);
        var model = mlContext.Transforms.ClipPretrain(Options(skip: true)).Fit(data);
        var report = model.TrainingReport!;
        Assert.Equal(3, report.SkippedRows);
        Assert.Equal(4, report.Steps); // 64 rows in batches of 16; three batches are one row short
        Assert.All(report.Losses, l => Assert.True(double.IsFinite(l.Loss)));
    }
}
