using System.Collections.Generic;

namespace Microsoft.ML.Clip.Datasets;

/// <summary>Fashion-MNIST's ten classes, in label order.</summary>
public static class FashionMnistClasses
{
    /// <summary>T-shirt/top, Trouser, Pullover, Dress, Coat, Sandal, Shirt, Sneaker, Bag, Ankle boot: the name of label <c>i</c> is <c>Names[i]</c>.</summary>
    public static IReadOnlyList<string> Names { get; } =
        ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"];
}
