using System.Collections.Generic;

namespace Microsoft.ML.Clip.Datasets;

/// <summary>The Fashion-MNIST files to read: the 60,000 training images or the 10,000 test images.</summary>
public enum FashionMnistSplit
{
    /// <summary><c>train-images-idx3-ubyte</c> and <c>train-labels-idx1-ubyte</c>.</summary>
    Train,

    /// <summary><c>t10k-images-idx3-ubyte</c> and <c>t10k-labels-idx1-ubyte</c>.</summary>
    Test,
}

/// <summary>Options of <see cref="ClipDataLoaders.LoadFashionMnist"/>.</summary>
public sealed class FashionMnistOptions : ClipDatasetOptions
{
    /// <summary>The caption template: <c>{}</c> is replaced by the class name. Default <c>a photo of a {}.</c>.</summary>
    public string CaptionTemplate { get; set; } = "a photo of a {}.";

    /// <summary>
    /// Several caption templates (each with <c>{}</c>) used in turn (image <c>i</c> gets template
    /// <c>i mod count</c>), so captions vary as in real image–text data; null: <see cref="CaptionTemplate"/> only.
    /// </summary>
    public IReadOnlyList<string>? CaptionTemplates { get; set; }

    /// <summary>Write class names in lower case in captions (<c>a photo of a t-shirt/top.</c>). Default true; the <c>Label</c> column keeps the official spelling.</summary>
    public bool LowercaseInCaption { get; set; } = true;
}
