using System;
using System.IO;
using System.Linq;
using Microsoft.ML;
using Microsoft.ML.Clip.Datasets;
using Microsoft.ML.Clip.Modeling;

namespace Microsoft.ML.Clip.Samples;

/// <summary>What the two Fashion-MNIST samples share: finding the files, the small CLIP they train, zero-shot accuracy.</summary>
internal static class FashionMnistSampleParts
{
    /// <summary>The IDX folder (<c>--folder</c>, default Debian's package location); null, with a message, when it is missing.</summary>
    public static string? FindFolder(SampleArguments a)
    {
        string folder = a.String("folder", "/usr/share/datasets/fashion-mnist");
        if (File.Exists(Path.Combine(folder, "train-images-idx3-ubyte.gz")) || File.Exists(Path.Combine(folder, "train-images-idx3-ubyte")))
            return folder;
        Console.Error.WriteLine($"Fashion-MNIST was not found in '{folder}': install Debian's dataset-fashion-mnist package (apt-get install dataset-fashion-mnist) or pass --folder.");
        return null;
    }

    /// <summary>ViT 28 px / patch 7 / 4 × 128 and a 2 × 128 text transformer, embedding 128.</summary>
    public static ClipConfig Architecture(int vocabularySize, int contextLength) => new()
    {
        EmbedDim = 128,
        Vision = new VisionConfig { ImageSize = 28, PatchSize = 7, Layers = 4, Width = 128, HeadWidth = 32 },
        Text = new TextConfig { ContextLength = contextLength, VocabSize = vocabularySize, Width = 128, Heads = 4, Layers = 2 },
    };

    /// <summary>The ten class names as a key mapping, in label order (for <c>MapValueToKey</c>'s key data).</summary>
    public static IDataView LabelKeys(MLContext mlContext) =>
        mlContext.Data.LoadFromEnumerable(FashionMnistClasses.Names.Select(n => new LabelRow { Label = n }));

    /// <summary>Zero-shot accuracy on <paramref name="test"/>: lower-cased class names × <paramref name="templates"/>, ensembled.</summary>
    public static double ZeroShotAccuracy(MLContext mlContext, ClipModelBundle bundle, string[] templates, IDataView test)
    {
        var classes = FashionMnistClasses.Names.Select(n => n.ToLowerInvariant()).ToArray();
        var zeroShot = mlContext.Transforms.ClipZeroShot(bundle, classes, templates, imageColumnName: "ImageBytes", batchSize: 256)
            .Append(mlContext.Transforms.Conversion.MapValueToKey("LabelKey", "Label", keyData: LabelKeys(mlContext)))
            .Fit(test);
        return mlContext.MulticlassClassification.Evaluate(zeroShot.Transform(test), "LabelKey").MicroAccuracy;
    }

    private sealed class LabelRow
    {
        public string Label { get; set; } = "";
    }
}
