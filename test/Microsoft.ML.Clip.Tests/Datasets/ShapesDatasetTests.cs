using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Security.Cryptography;
using Microsoft.ML.Clip.Datasets;
using Microsoft.ML.Clip.SampleData;
using Microsoft.ML.Clip.SampleData.Shapes;
using Microsoft.ML.Data;
using Microsoft.ML.Transforms.Image;
using Xunit;

namespace Microsoft.ML.Clip.Tests.Datasets;

public class ShapesDatasetTests
{
    private static readonly MLContext Ml = new(seed: 1);

    [Fact]
    public void SameSeedGivesIdenticalExamplesAndAnotherSeedDifferentOnes()
    {
        var options = new ShapesDatasetOptions { Count = 24, Seed = 7 };
        var first = ShapesDataset.Generate(options);
        var again = ShapesDataset.Generate(options);
        var other = ShapesDataset.Generate(new ShapesDatasetOptions { Count = 24, Seed = 8 });

        for (int i = 0; i < first.Count; i++)
        {
            Assert.Equal(first[i].ImageBytes, again[i].ImageBytes);
            Assert.Equal(first[i].Caption, again[i].Caption);
            Assert.Equal(first[i].Objects, again[i].Objects);
        }
        int differentImages = Enumerable.Range(0, first.Count).Count(i => !first[i].ImageBytes.SequenceEqual(other[i].ImageBytes));
        Assert.Equal(first.Count, differentImages);
        Assert.NotEqual(first.Select(e => e.Caption), other.Select(e => e.Caption));
    }

    [Fact]
    public void AnExampleDependsOnlyOnSeedSplitAndIndex()
    {
        var small = ShapesDataset.Generate(new ShapesDatasetOptions { Count = 5, Seed = 3 });
        var large = ShapesDataset.Generate(new ShapesDatasetOptions { Count = 300, Seed = 3 });
        var streamed = ShapesDataset.Enumerate(new ShapesDatasetOptions { Count = 300, Seed = 3 }).ToList();

        for (int i = 0; i < small.Count; i++)
            Assert.Equal(small[i].ImageBytes, large[i].ImageBytes);
        Assert.Equal(large.Select(e => e.Index), streamed.Select(e => e.Index));
        Assert.True(large.Zip(streamed).All(p => p.First.ImageBytes.SequenceEqual(p.Second.ImageBytes)));

        // Caption settings draw from their own stream: they never change the pixels.
        var canonical = ShapesDataset.Generate(new ShapesDatasetOptions { Count = 5, Seed = 3, VariedCaptions = false });
        Assert.True(small.Zip(canonical).All(p => p.First.ImageBytes.SequenceEqual(p.Second.ImageBytes)));
    }

    /// <summary>
    /// The pixels are a fixed function of the options: this hash was computed once and must come out the same
    /// on every machine, OS and .NET version. If a change to the dataset is intended, update the hash and say so.
    /// </summary>
    [Fact]
    public void PixelsMatchTheRecordedHash()
    {
        var options = ResolvedShapesOptions.From(new ShapesDatasetOptions { Count = 16, Seed = 42, ObjectsPerImage = 2 });
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        for (int i = 0; i < 16; i++)
        {
            var scene = ShapeSceneSampler.Sample(options, i);
            sha.AppendData(ShapeRasterizer.RenderRgba(scene));
            sha.AppendData(System.Text.Encoding.UTF8.GetBytes(scene.Caption));
        }
        Assert.Equal(RecordedHash, Convert.ToHexString(sha.GetHashAndReset()));
    }

    private const string RecordedHash = "A143144D9D539826A7F3DFB0B52A2110B93D85186BE39E4F06AD47FCC050D708";

    [Fact]
    public void PngDecodesToTheRenderedPixels()
    {
        var options = new ShapesDatasetOptions { Count = 4, Seed = 5, ImageSize = 40 };
        var resolved = ResolvedShapesOptions.From(options);
        var examples = ShapesDataset.Generate(options);
        foreach (var example in examples)
        {
            byte[] rendered = ShapeRasterizer.RenderRgba(ShapeSceneSampler.Sample(resolved, example.Index));
            Assert.Equal(rendered, DecodeRgba(example.ImageBytes, out int width, out int height));
            Assert.Equal(40, width);
            Assert.Equal(40, height);
        }
    }

    [Fact]
    public void TrainSplitNeverHoldsAHeldOutPairAndTheHeldOutSplitHoldsThemAll()
    {
        var heldOut = ShapesDataset.HeldOutPairs();
        Assert.Equal(ShapesDataset.DefaultHeldOutPairs(), heldOut);
        Assert.Equal(
            ["green circle", "yellow square", "orange triangle", "red star", "blue cross", "purple heart"],
            heldOut.Select(p => p.ClassName));

        // Scenes (labels and captions, no pixels) are cheap: check many through the sampler behind every API.
        foreach (int objects in new[] { 1, 2, 3 })
        {
            var trainOptions = ResolvedShapesOptions.From(new ShapesDatasetOptions { Seed = 11, ObjectsPerImage = objects });
            var train = Enumerable.Range(0, 3000).Select(i => ShapeSceneSampler.Sample(trainOptions, i)).ToList();
            Assert.All(train, e => Assert.All(e.Objects, o => Assert.DoesNotContain(o.Pair, heldOut)));
            Assert.All(train, e => Assert.All(heldOut, p => Assert.DoesNotContain(p.ClassName, e.Caption)));
            // Every shape and every colour still appears in training, only not in the held-out combinations.
            Assert.Equal(ShapesDatasetOptions.DefaultShapes.Order(), train.SelectMany(e => e.Objects).Select(o => o.Shape).Distinct().Order());
            Assert.Equal(ShapesDatasetOptions.DefaultColours.Order(), train.SelectMany(e => e.Objects).Select(o => o.Colour).Distinct().Order());

            var testOptions = ResolvedShapesOptions.From(new ShapesDatasetOptions { Seed = 11, ObjectsPerImage = objects, Split = ShapesSplit.HeldOut });
            var test = Enumerable.Range(0, 600).Select(i => ShapeSceneSampler.Sample(testOptions, i)).ToList();
            Assert.All(test, e => Assert.Contains(e.Objects[0].Pair, heldOut));
            Assert.Equal(heldOut.OrderBy(p => p.ClassName), test.Select(e => e.Objects[0].Pair).Distinct().OrderBy(p => p.ClassName));
        }

        // The public API gives the same splits.
        Assert.All(ShapesDataset.Generate(new ShapesDatasetOptions { Count = 200, Seed = 11 }), e => Assert.DoesNotContain(e.Objects[0].Pair, heldOut));
        Assert.All(ShapesDataset.Generate(new ShapesDatasetOptions { Count = 50, Seed = 11, Split = ShapesSplit.HeldOut }), e => Assert.Contains(e.Objects[0].Pair, heldOut));

        var allOptions = ResolvedShapesOptions.From(new ShapesDatasetOptions { Seed = 11, Split = ShapesSplit.All });
        Assert.Equal(42, Enumerable.Range(0, 3000).Select(i => ShapeSceneSampler.Sample(allOptions, i).Objects[0].Pair).Distinct().Count());
    }

    [Fact]
    public void CustomHeldOutPairsAreHonoured()
    {
        var pair = new ShapeColourPair(ShapeKind.Circle, ShapeColour.Red);
        var options = new ShapesDatasetOptions { Count = 200, Seed = 2, Shapes = [ShapeKind.Circle, ShapeKind.Star], Colours = [ShapeColour.Red, ShapeColour.Blue], HeldOutPairs = [pair] };
        Assert.Equal(["red circle", "blue circle", "red star", "blue star"], ShapesDataset.ClassNames(options));
        Assert.DoesNotContain(ShapesDataset.Generate(options), e => e.Objects[0].Pair == pair);

        options.Split = ShapesSplit.HeldOut;
        Assert.All(ShapesDataset.Generate(options), e => Assert.Equal("red circle", e.Label));

        options.HeldOutPairs = [];
        Assert.Throws<ArgumentException>(() => ShapesDataset.Generate(options));
        options.Split = ShapesSplit.Train;
        Assert.Equal(4, ShapesDataset.Generate(options).Select(e => e.Label).Distinct().Count());
    }

    [Fact]
    public void InvalidOptionsAreRejected()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => ShapesDataset.Generate(new ShapesDatasetOptions { ImageSize = 8 }));
        Assert.Throws<ArgumentOutOfRangeException>(() => ShapesDataset.Generate(new ShapesDatasetOptions { Count = -1 }));
        Assert.Throws<ArgumentOutOfRangeException>(() => ShapesDataset.Generate(new ShapesDatasetOptions { ObjectsPerImage = 4 }));
        Assert.Throws<ArgumentOutOfRangeException>(() => ShapesDataset.Generate(new ShapesDatasetOptions { NoiseLevel = -1 }));
        Assert.Throws<ArgumentException>(() => ShapesDataset.Generate(new ShapesDatasetOptions { Shapes = [] }));
        Assert.Throws<ArgumentException>(() => ShapesDataset.Generate(new ShapesDatasetOptions { Colours = [ShapeColour.Red, ShapeColour.Red] }));
        Assert.Throws<ArgumentException>(() => ShapesDataset.Generate(new ShapesDatasetOptions
        {
            HeldOutPairs = [new ShapeColourPair(ShapeKind.Hexagon, ShapeColour.Red)],   // hexagon is not drawn by default
        }));
        Assert.Throws<ArgumentException>(() => ShapesDataset.Generate(new ShapesDatasetOptions
        {
            Shapes = [ShapeKind.Circle], Colours = [ShapeColour.Red], HeldOutPairs = [new ShapeColourPair(ShapeKind.Circle, ShapeColour.Red)],
        }));
        Assert.Throws<ArgumentException>(() => ShapesDataset.Generate(new ShapesDatasetOptions
        {
            ObjectsPerImage = 2, Positions = [ShapePosition.Center],
        }));
    }

    [Fact]
    public void CaptionsNameEveryShapesColourAndKind()
    {
        foreach (int objects in new[] { 1, 2 })
        {
            var examples = ShapesDataset.Generate(new ShapesDatasetOptions { Count = 500, Seed = 4, ObjectsPerImage = objects, Split = ShapesSplit.All });
            foreach (var e in examples)
            {
                Assert.Equal(objects, e.Objects.Count);
                Assert.Equal(objects, e.Objects.Select(o => o.Position).Distinct().Count());
                foreach (var o in e.Objects)
                {
                    Assert.Contains(ShapesVocabulary.Name(o.Colour), e.Caption);
                    Assert.Contains(ShapesVocabulary.Name(o.Shape), e.Caption);
                }
                Assert.DoesNotContain("  ", e.Caption);
                Assert.DoesNotContain(" a orange", e.Caption);
                Assert.False(e.Caption.StartsWith("a orange", StringComparison.Ordinal), e.Caption);
            }
            // Varied captions: many distinct sentence frames, not one string per class; "an" before vowels.
            Assert.True(examples.Select(e => e.Caption).Distinct().Count() > 400);
            Assert.Contains(examples, e => e.Caption.Contains("an orange", StringComparison.Ordinal));
        }
    }

    [Fact]
    public void CanonicalCaptionsFollowOneTemplate()
    {
        var examples = ShapesDataset.Generate(new ShapesDatasetOptions { Count = 50, Seed = 4, VariedCaptions = false });
        foreach (var e in examples)
            Assert.Equal(ShapeCaptions.Canonical(e.Objects[0]), e.Caption);
        Assert.Equal("a small red circle on the left", ShapeCaptions.Canonical(
            new ShapeObject(ShapeKind.Circle, ShapeColour.Red, ShapeSize.Small, ShapePosition.Left)));
        Assert.Equal("a large orange star in the top left corner", ShapeCaptions.Canonical(
            new ShapeObject(ShapeKind.Star, ShapeColour.Orange, ShapeSize.Large, ShapePosition.TopLeft)));

        var two = ShapesDataset.Generate(new ShapesDatasetOptions { Count = 5, Seed = 4, VariedCaptions = false, ObjectsPerImage = 2 });
        Assert.All(two, e => Assert.Equal(ShapeCaptions.Canonical(e.Objects[0]) + " and " + ShapeCaptions.Canonical(e.Objects[1]), e.Caption));
    }

    [Theory]
    [InlineData(32)]
    [InlineData(64)]
    [InlineData(96)]
    public void ImagesShowTheNamedColourSizeAndPosition(int imageSize)
    {
        var options = new ShapesDatasetOptions
        {
            Count = 120, Seed = 9, ImageSize = imageSize, Split = ShapesSplit.All,
            Shapes = Enum.GetValues<ShapeKind>(), Colours = Enum.GetValues<ShapeColour>(), Sizes = [ShapeSize.Small, ShapeSize.Large],
        };
        foreach (var e in ShapesDataset.Generate(options))
        {
            byte[] rgba = DecodeRgba(e.ImageBytes, out int width, out int height);
            Assert.Equal(imageSize, width);
            Assert.Equal(imageSize, height);

            // The background covers most of the image, so the median brightness is the background's.
            var brightness = new int[width * height];
            for (int p = 0; p < brightness.Length; p++)
                brightness[p] = (rgba[4 * p] + rgba[4 * p + 1] + rgba[4 * p + 2]) / 3;
            int background = brightness.Order().ElementAt(brightness.Length / 2);

            // Distance from the background; the shape's fully covered pixels are the farthest.
            var distance = new int[width * height];
            for (int p = 0; p < distance.Length; p++)
                distance[p] = Math.Max(Math.Abs(rgba[4 * p] - background),
                    Math.Max(Math.Abs(rgba[4 * p + 1] - background), Math.Abs(rgba[4 * p + 2] - background)));
            int farthest = distance.Max();
            Assert.True(farthest > 60, $"example {e.Index}: no shape stands out from the background ({farthest})");

            long r = 0, g = 0, b = 0, n = 0, covered = 0;
            int minX = width, maxX = -1, minY = height, maxY = -1;
            double sumX = 0, sumY = 0;
            for (int y = 0; y < height; y++)
            {
                for (int x = 0; x < width; x++)
                {
                    int p = y * width + x;
                    if (4 * distance[p] >= 3 * farthest)   // the core: colour without edge blending
                    {
                        r += rgba[4 * p]; g += rgba[4 * p + 1]; b += rgba[4 * p + 2]; n++;
                    }
                    if (2 * distance[p] >= farthest)       // at least about half covered: the shape's outline
                    {
                        minX = Math.Min(minX, x); maxX = Math.Max(maxX, x); minY = Math.Min(minY, y); maxY = Math.Max(maxY, y);
                        sumX += x + 0.5; sumY += y + 0.5; covered++;
                    }
                }
            }

            var mean = (R: (double)r / n, G: (double)g / n, B: (double)b / n);
            var nearest = Enum.GetValues<ShapeColour>().MinBy(c =>
            {
                var (cr, cg, cb) = ShapesPalette.Base(c);
                return Math.Pow(mean.R - cr, 2) + Math.Pow(mean.G - cg, 2) + Math.Pow(mean.B - cb, 2);
            });
            Assert.True(nearest == e.Colour, $"example {e.Index}: mean colour {mean} is nearest {nearest}, caption says {e.Colour}");

            int column = (int)(sumX / covered / width * 3), row = (int)(sumY / covered / height * 3);
            Assert.True((int)e.Position == row * 3 + column, $"example {e.Index}: centroid in cell ({row}, {column}), label {e.Position}");

            double extent = Math.Max(maxX - minX + 1, maxY - minY + 1) / (double)imageSize;
            if (e.Size == ShapeSize.Small)
                Assert.True(extent <= 0.23 + 1.5 / imageSize, $"example {e.Index}: small shape spans {extent:P0}");
            else
                Assert.True(extent >= 0.36 * 0.84 - 2.0 / imageSize, $"example {e.Index}: large {e.Shape} spans {extent:P0}");
        }
    }

    [Fact]
    public void DataViewHasTheDocumentedSchemaAndTheGeneratedRows()
    {
        var options = new ShapesDatasetOptions { Count = 40, Seed = 6 };
        IDataView view = ShapesDataset.ToDataView(Ml, options);

        Assert.Equal(
            ["Image", "ImageBytes", "Caption", "Label", "Shape", "Colour", "Size", "Position"],
            view.Schema.Select(c => c.Name));
        var imageType = Assert.IsType<ImageDataViewType>(view.Schema["Image"].Type);
        Assert.Equal(64, imageType.Height);
        Assert.Equal(64, imageType.Width);
        var bytesType = Assert.IsType<VectorDataViewType>(view.Schema["ImageBytes"].Type);
        Assert.Equal(NumberDataViewType.Byte, bytesType.ItemType);
        Assert.False(bytesType.IsKnownSize);
        foreach (var name in new[] { "Caption", "Label", "Shape", "Colour", "Size", "Position" })
            Assert.Equal(TextDataViewType.Instance, view.Schema[name].Type);
        Assert.Equal(40, view.GetRowCount());

        var expected = ShapesDataset.Generate(options);
        var rows = ReadRows(view);
        Assert.Equal(expected.Count, rows.Count);
        for (int i = 0; i < rows.Count; i++)
        {
            var e = expected[i];
            Assert.Equal(e.ImageBytes, rows[i].Bytes);
            Assert.Equal(DecodeRgba(e.ImageBytes, out _, out _), rows[i].Rgba);
            Assert.Equal(e.Caption, rows[i].Caption);
            Assert.Equal(e.Label, rows[i].Label);
            Assert.Equal(ShapesVocabulary.Name(e.Shape), rows[i].Shape);
            Assert.Equal(ShapesVocabulary.Name(e.Colour), rows[i].Colour);
            Assert.Equal(ShapesVocabulary.Name(e.Size), rows[i].Size);
            Assert.Equal(ShapesVocabulary.Name(e.Position), rows[i].Position);
            Assert.Equal(ShapesVocabulary.ClassName(e.Shape, e.Colour), rows[i].Label);
        }
    }

    [Fact]
    public void DataViewStreamsWithoutMaterializingRows()
    {
        // A trillion rows: the count is known at once and a cursor reaches rows without making the ones before.
        const long count = 1_000_000_000_000;
        IDataView view = ShapesDataset.ToDataView(Ml, new ShapesDatasetOptions { Count = count, Seed = 1 });
        Assert.Equal(count, view.GetRowCount());
        Assert.False(view.CanShuffle);

        using var cursor = view.GetRowCursor([view.Schema["Caption"], view.Schema["Image"]]);
        var caption = cursor.GetGetter<ReadOnlyMemory<char>>(view.Schema["Caption"]);
        var image = cursor.GetGetter<MLImage>(view.Schema["Image"]);
        Assert.Throws<InvalidOperationException>(() => cursor.GetGetter<VBuffer<byte>>(view.Schema["ImageBytes"]));
        Assert.Throws<InvalidOperationException>(() => cursor.GetGetter<float>(view.Schema["Caption"]));
        MLImage value = null!;
        for (int i = 0; i < 3; i++)
        {
            Assert.True(cursor.MoveNext());
            ReadOnlyMemory<char> text = default;
            caption(ref text);
            Assert.False(text.IsEmpty);
            image(ref value);
            Assert.Equal(64, value.Width);
        }
        value.Dispose();

        // Far rows come from their index alone: the first rows agree with a small generated set.
        var small = ShapesDataset.Generate(new ShapesDatasetOptions { Count = 3, Seed = 1 });
        using var labels = view.GetRowCursor([view.Schema["Label"]]);
        var label = labels.GetGetter<ReadOnlyMemory<char>>(view.Schema["Label"]);
        foreach (var e in small)
        {
            Assert.True(labels.MoveNext());
            ReadOnlyMemory<char> text = default;
            label(ref text);
            Assert.Equal(e.Label, text.ToString());
        }
    }

    [Fact]
    public void ShuffledCursorVisitsEveryRowOnce()
    {
        IDataView view = ShapesDataset.ToDataView(Ml, new ShapesDatasetOptions { Count = 60, Seed = 2 });
        Assert.True(view.CanShuffle);
        var ids = new List<ulong>();
        var labels = new Dictionary<ulong, string>();
        using (var cursor = view.GetRowCursor([view.Schema["Label"]], new Random(5)))
        {
            var id = cursor.GetIdGetter();
            var label = cursor.GetGetter<ReadOnlyMemory<char>>(view.Schema["Label"]);
            while (cursor.MoveNext())
            {
                DataViewRowId value = default;
                id(ref value);
                ReadOnlyMemory<char> text = default;
                label(ref text);
                ids.Add(value.Low);
                labels[value.Low] = text.ToString();
            }
        }
        Assert.Equal(Enumerable.Range(0, 60).Select(i => (ulong)i), ids.Order());
        Assert.NotEqual(ids.Order(), ids);
        var generated = ShapesDataset.Generate(new ShapesDatasetOptions { Count = 60, Seed = 2 });
        Assert.All(generated, e => Assert.Equal(e.Label, labels[(ulong)e.Index]));
    }

    [Fact]
    public void DataViewOverExamplesDecodesImagesAndStreamsSequences()
    {
        var examples = ShapesDataset.Generate(new ShapesDatasetOptions { Count = 12, Seed = 3, ImageSize = 48 });

        IDataView listView = ShapesDataset.ToDataView(Ml, examples);
        Assert.Equal(12, listView.GetRowCount());
        Assert.True(listView.CanShuffle);
        var rows = ReadRows(listView);
        for (int i = 0; i < rows.Count; i++)
        {
            Assert.Equal(examples[i].ImageBytes, rows[i].Bytes);
            Assert.Equal(DecodeRgba(examples[i].ImageBytes, out _, out _), rows[i].Rgba);
            Assert.Equal(examples[i].Caption, rows[i].Caption);
        }

        IDataView streamView = ShapesDataset.ToDataView(Ml, examples.Where(e => e.Index % 2 == 0));
        Assert.Null(streamView.GetRowCount());
        Assert.False(streamView.CanShuffle);
        Assert.Equal(examples.Where(e => e.Index % 2 == 0).Select(e => e.Caption), ReadRows(streamView).Select(r => r.Caption));
        Assert.Equal(6, ReadRows(streamView).Count);   // every cursor enumerates again
    }

    [Fact]
    public void DataViewFeedsMLNetImageTransformsAndKeyMapping()
    {
        IDataView view = ShapesDataset.ToDataView(Ml, new ShapesDatasetOptions { Count = 16, Seed = 4, ImageSize = 64 });
        var pipeline = Ml.Transforms.ResizeImages("Small", 32, 32, inputColumnName: "Image")
            .Append(Ml.Transforms.ExtractPixels("Pixels", "Small"))
            .Append(Ml.Transforms.Conversion.MapValueToKey("LabelKey", "Label"));
        var transformed = pipeline.Fit(view).Transform(view);

        var pixels = transformed.GetColumn<float[]>("Pixels").ToList();
        Assert.Equal(16, pixels.Count);
        Assert.All(pixels, p => Assert.Equal(3 * 32 * 32, p.Length));
        Assert.All(transformed.GetColumn<uint>("LabelKey"), key => Assert.InRange(key, 1u, 42u));
    }

    [Fact]
    public void WriteToFolderWritesPngsAndAManifestThatRoundTripsThroughTextLoader()
    {
        using var temp = new TempDirectory();
        var options = new ShapesDatasetOptions { Count = 300, Seed = 12, ImageSize = 32 };
        string manifest = ShapesDataset.WriteToFolder(temp.Path, options);
        Assert.Equal(Path.Combine(temp.Path, "manifest.csv"), manifest);

        var expected = ShapesDataset.Generate(options);
        Assert.Contains(expected, e => e.Caption.Contains(','));   // the quoting is exercised

        string[] lines = File.ReadAllLines(manifest);
        Assert.Equal("path,caption,label,shape,colour,size,position", lines[0]);
        Assert.Equal(301, lines.Length);

        var loaded = Ml.Data.LoadFromTextFile<ManifestRow>(manifest, separatorChar: ',', hasHeader: true, allowQuoting: true);
        var rows = Ml.Data.CreateEnumerable<ManifestRow>(loaded, reuseRowObject: false).ToList();
        Assert.Equal(expected.Count, rows.Count);
        for (int i = 0; i < rows.Count; i++)
        {
            Assert.Equal($"images/{i:D6}.png", rows[i].Path);
            Assert.Equal(expected[i].Caption, rows[i].Caption);
            Assert.Equal(expected[i].Label, rows[i].Label);
            Assert.Equal(ShapesVocabulary.Name(expected[i].Position), rows[i].Position);
            string file = Path.Combine(temp.Path, rows[i].Path);
            Assert.Equal(expected[i].ImageBytes, File.ReadAllBytes(file));
        }
        using (var image = MLImage.CreateFromFile(Path.Combine(temp.Path, rows[0].Path)))
        {
            Assert.Equal(32, image.Width);
            Assert.Equal(32, image.Height);
        }

        // ML.NET's raw-bytes loader reads the files the manifest names.
        var bytes = Ml.Transforms.LoadRawImageBytes("Bytes", temp.Path, "Path").Fit(loaded).Transform(loaded);
        var loadedBytes = bytes.GetColumn<VBuffer<byte>>("Bytes").Take(3).Select(v => v.DenseValues().ToArray()).ToList();
        for (int i = 0; i < 3; i++)
            Assert.Equal(expected[i].ImageBytes, loadedBytes[i]);
        Assert.DoesNotContain(Directory.EnumerateFiles(temp.Path), f => f.EndsWith(".tmp", StringComparison.Ordinal));
    }

    [Fact]
    public void ManifestQuotesCommasQuotesAndNewlines()
    {
        using var temp = new TempDirectory();
        var source = ShapesDataset.Generate(new ShapesDatasetOptions { Count = 3, Seed = 1, ImageSize = 16 });
        string[] captions = ["a \"quoted\" red circle, small", " padded , caption ", "plain"];
        var examples = source.Select((e, i) => e with { Caption = captions[i] }).ToList();
        string manifest = ShapesDataset.WriteToFolder(temp.Path, examples);

        Assert.Equal("images/000000.png,\"a \"\"quoted\"\" red circle, small\"," + examples[0].Label + ","
            + ShapesVocabulary.Name(examples[0].Shape) + "," + ShapesVocabulary.Name(examples[0].Colour) + ","
            + ShapesVocabulary.Name(examples[0].Size) + "," + ShapesVocabulary.Name(examples[0].Position),
            File.ReadAllLines(manifest)[1]);
        var loaded = Ml.Data.LoadFromTextFile<ManifestRow>(manifest, separatorChar: ',', hasHeader: true, allowQuoting: true, trimWhitespace: false);
        Assert.Equal(captions, Ml.Data.CreateEnumerable<ManifestRow>(loaded, reuseRowObject: false).Select(r => r.Caption));
        Assert.Equal("\"a\nb\"", ShapesFolderWriter.Field("a\nb"));
    }

    [Fact]
    public void ClassNamesAndPromptsCoverEveryCombination()
    {
        var names = ShapesDataset.ClassNames();
        Assert.Equal(42, names.Count);
        Assert.Equal(names.Count, names.Distinct().Count());
        Assert.Equal("red circle", names[0]);
        Assert.Contains("purple heart", names);
        Assert.All(ShapesDataset.HeldOutPairs(), p => Assert.Contains(p.ClassName, names));
        Assert.All(ShapesDataset.PromptTemplates, t => Assert.Contains("{}", t));
    }

    public sealed class ManifestRow
    {
        [LoadColumn(0)] public string Path { get; set; } = "";
        [LoadColumn(1)] public string Caption { get; set; } = "";
        [LoadColumn(2)] public string Label { get; set; } = "";
        [LoadColumn(6)] public string Position { get; set; } = "";
    }

    private sealed record Row(byte[] Rgba, byte[] Bytes, string Caption, string Label, string Shape, string Colour, string Size, string Position);

    private static List<Row> ReadRows(IDataView view)
    {
        var rows = new List<Row>();
        using var cursor = view.GetRowCursor(view.Schema);
        var image = cursor.GetGetter<MLImage>(view.Schema["Image"]);
        var bytes = cursor.GetGetter<VBuffer<byte>>(view.Schema["ImageBytes"]);
        var text = new[] { "Caption", "Label", "Shape", "Colour", "Size", "Position" }
            .Select(name => cursor.GetGetter<ReadOnlyMemory<char>>(view.Schema[name])).ToArray();
        MLImage value = null!;
        while (cursor.MoveNext())
        {
            image(ref value);
            VBuffer<byte> buffer = default;
            bytes(ref buffer);
            var strings = text.Select(getter =>
            {
                ReadOnlyMemory<char> s = default;
                getter(ref s);
                return s.ToString();
            }).ToArray();
            rows.Add(new Row(ToRgba(value), buffer.DenseValues().ToArray(), strings[0], strings[1], strings[2], strings[3], strings[4], strings[5]));
        }
        value?.Dispose();
        return rows;
    }

    private static byte[] DecodeRgba(byte[] png, out int width, out int height)
    {
        using var stream = new MemoryStream(png);
        using var image = MLImage.CreateFromStream(stream);
        width = image.Width;
        height = image.Height;
        return ToRgba(image);
    }

    /// <summary>The image's pixels as RGBA, whichever of ML.NET's two layouts it holds.</summary>
    private static byte[] ToRgba(MLImage image)
    {
        byte[] pixels = image.Pixels.ToArray();
        if (image.PixelFormat == MLPixelFormat.Bgra32)
            for (int i = 0; i < pixels.Length; i += 4)
                (pixels[i], pixels[i + 2]) = (pixels[i + 2], pixels[i]);
        else
            Assert.Equal(MLPixelFormat.Rgba32, image.PixelFormat);
        return pixels;
    }
}
