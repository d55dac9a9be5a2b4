using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using Microsoft.ML.Clip.Datasets.Common;
using Microsoft.ML.Clip.Imaging;
using Microsoft.ML.Data;

namespace Microsoft.ML.Clip.Datasets.FashionMnist;

/// <summary>
/// Records of Fashion-MNIST's IDX files: images and labels are read in step, each 28×28 grayscale image
/// encoded as PNG when the cursor reaches it.
/// </summary>
internal sealed class FashionMnistSource : DatasetRecordSource
{
    private static readonly string[] Extras = [ClipDatasetColumns.Label];

    private readonly string _images;
    private readonly string _labels;
    private readonly string[][] _captions; // [template][class]
    private readonly int _count;

    public FashionMnistSource(string folder, FashionMnistSplit split, FashionMnistOptions options)
    {
        var templates = options.CaptionTemplates is { Count: > 0 } many ? many.ToArray() : [options.CaptionTemplate];
        foreach (var template in templates)
            if (!template.Contains("{}", StringComparison.Ordinal))
                throw new ArgumentException($"The caption template '{template}' has no '{{}}' for the class name.", nameof(options));
        string prefix = split == FashionMnistSplit.Train ? "train" : "t10k";
        _images = Find(folder, $"{prefix}-images-idx3-ubyte");
        _labels = Find(folder, $"{prefix}-labels-idx1-ubyte");
        _captions = templates.Select(template => FashionMnistClasses.Names.Select(name =>
            template.Replace("{}", options.LowercaseInCaption ? name.ToLowerInvariant() : name, StringComparison.Ordinal)).ToArray()).ToArray();
        using var images = IdxFile.Open(_images, 3, "images");
        using var labels = IdxFile.Open(_labels, 1, "labels");
        if (images.Count != labels.Count)
            throw new ClipDatasetException(_labels, null, $"{labels.Count} labels for {images.Count} images in '{_images}'");
        _count = images.Count;
    }

    public override IReadOnlyList<string> ExtraColumns => Extras;

    public override long? Count => _count;

    /// <summary>True: a shuffled pass reads the raw pixels (47 MB for the training split) and permutes all images.</summary>
    public override bool PermutesRecords => true;

    public override IEnumerable<DatasetRecord> Enumerate(Random? rand, BadRecordHandler bad) => Permute(Read(bad), rand);

    private IEnumerable<DatasetRecord> Read(BadRecordHandler bad)
    {
        using var images = IdxFile.Open(_images, 3, "images");
        using var labels = IdxFile.Open(_labels, 1, "labels");
        int height = images.Dimensions[1], width = images.Dimensions[2];
        var label = new byte[1];
        for (int i = 0; i < _count; i++)
        {
            var pixels = new byte[height * width];
            images.ReadItem(pixels, i, "image");
            labels.ReadItem(label, i, "label");
            if (label[0] >= FashionMnistClasses.Names.Count)
            {
                bad.Handle(new ClipDatasetException(_labels, $"label {i}", $"class {label[0]} is out of range (0–{FashionMnistClasses.Names.Count - 1})"));
                continue;
            }
            int c = label[0];
            yield return new DatasetRecord(new DataViewRowId((ulong)i, 0), _images, $"image {i}", null, () => Gray.ToPng(pixels, width, height),
                _captions[i % _captions.Length][c], [FashionMnistClasses.Names[c]]);
        }
    }

    private static string Find(string folder, string name)
    {
        foreach (string candidate in new[] { name + ".gz", name })
        {
            string path = Path.GetFullPath(Path.Combine(folder, candidate));
            if (File.Exists(path))
                return path;
        }
        throw new FileNotFoundException($"Neither '{name}.gz' nor '{name}' is in '{Path.GetFullPath(folder)}'.", Path.Combine(folder, name));
    }

    private static class Gray
    {
        public static byte[] ToPng(byte[] gray, int width, int height)
        {
            var rgba = new byte[gray.Length * 4];
            for (int i = 0; i < gray.Length; i++)
            {
                rgba[4 * i] = rgba[4 * i + 1] = rgba[4 * i + 2] = gray[i];
                rgba[4 * i + 3] = 255;
            }
            return PngEncoder.EncodeRgba(rgba, width, height);
        }
    }
}
