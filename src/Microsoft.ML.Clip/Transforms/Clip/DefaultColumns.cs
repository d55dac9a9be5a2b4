using System;
using Microsoft.ML.Clip.Datasets;

namespace Microsoft.ML.Clip.Transforms.Clip;

/// <summary>
/// The stages' default input column names (<c>Image</c>, <c>Text</c>) and the names the library's loaders write
/// (<see cref="ClipDatasetColumns.ImageBytes"/>, <see cref="ClipDatasetColumns.Caption"/>): a stage configured with a
/// default name that the input lacks reads the loader's column when the input has it. Any other name is used as given.
/// </summary>
internal static class DefaultColumns
{
    /// <summary>The stages' default image column.</summary>
    public const string Image = "Image";

    /// <summary>The stages' default caption column.</summary>
    public const string Text = "Text";

    /// <summary>The column to read for <paramref name="name"/>: itself, or the loaders' name when it is a default the input lacks.</summary>
    public static string Resolve(string name, Func<string, bool> inputHas) =>
        !inputHas(name) && LoaderName(name) is { } other && inputHas(other) ? other : name;

    /// <summary>The loaders' name for a default column name; null for any other name.</summary>
    public static string? LoaderName(string name) => name switch
    {
        Image => ClipDatasetColumns.ImageBytes,
        Text => ClipDatasetColumns.Caption,
        _ => null,
    };

    /// <summary>"Image column 'Image' not found in the input (nor 'ImageBytes', the loaders' name; expected ...)."</summary>
    public static string NotFound(string role, string name, string expected) => LoaderName(name) is { } other
        ? $"{role} column '{name}' not found in the input, nor '{other}' (the name the ClipMlNet loaders write); expected {expected}."
        : $"{role} column '{name}' not found in the input (expected {expected}).";
}
