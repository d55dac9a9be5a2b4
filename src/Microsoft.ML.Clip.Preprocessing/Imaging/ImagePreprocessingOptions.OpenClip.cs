using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Text.Json;

namespace Microsoft.ML.Clip.Imaging;

public sealed partial class ImagePreprocessingOptions
{
    private static readonly string[] _openClipFields = ["size", "mode", "mean", "std", "interpolation", "resize_mode", "fill_color"];

    /// <summary>
    /// Reads open_clip's <c>preprocess_cfg</c> (the object of that name in a hub folder's <c>open_clip_config.json</c>:
    /// open_clip's <c>PreprocessCfg</c> fields <c>size</c>, <c>mode</c>, <c>mean</c>, <c>std</c>, <c>interpolation</c>,
    /// <c>resize_mode</c>, <c>fill_color</c>) into options for its evaluation transform. Absent (or null) fields take
    /// open_clip's defaults: OpenAI's mean and std, bicubic, <c>shortest</c>.
    /// </summary>
    /// <remarks>
    /// <para>Implemented: <c>resize_mode</c> <c>shortest</c> (<see cref="ClipResizeMode.ShortestSideCenterCrop"/>) and
    /// <c>squash</c> (<see cref="ClipResizeMode.Squash"/>); <c>interpolation</c> <c>bicubic</c>, <c>bilinear</c>
    /// (<see cref="Interpolation"/>), and <c>random</c>, which open_clip's evaluation transform resizes with bicubic; <c>mode</c> <c>RGB</c>; <c>mean</c> and <c>std</c> as
    /// three numbers or one for every channel (as open_clip expands it). <c>fill_color</c> only matters to
    /// <c>resize_mode</c> <c>longest</c>, so it is checked to be a number and otherwise has no effect.</para>
    /// <para>Refused, with the field named: <c>resize_mode</c> <c>longest</c>, a
    /// non-square <c>size</c>, another <c>mode</c>, and any field open_clip's <c>PreprocessCfg</c> does not have.</para>
    /// </remarks>
    /// <param name="preprocessCfgJson">The <c>preprocess_cfg</c> object as JSON text.</param>
    /// <param name="imageSize">The model's image size. open_clip always preprocesses at the model's own size
    /// (<c>create_model</c> overrides <c>size</c> with the vision tower's), so a given size wins over the config's;
    /// null: the config's <c>size</c>, which must then be there.</param>
    /// <exception cref="InvalidDataException">A field is malformed or asks for something not implemented; the message names it.</exception>
    public static ImagePreprocessingOptions FromOpenClipPreprocessConfig(string preprocessCfgJson, int? imageSize = null)
    {
        ArgumentNullException.ThrowIfNull(preprocessCfgJson);
        try
        {
            using var document = JsonDocument.Parse(preprocessCfgJson);
            return FromOpenClipPreprocessConfig(document.RootElement, imageSize);
        }
        catch (JsonException ex)
        {
            throw new InvalidDataException($"preprocess_cfg is not valid JSON: {ex.Message}", ex);
        }
    }

    /// <summary>The same from a parsed <c>preprocess_cfg</c> element (a hub folder's config, read once).</summary>
    internal static ImagePreprocessingOptions FromOpenClipPreprocessConfig(JsonElement config, int? imageSize)
    {
        if (config.ValueKind != JsonValueKind.Object)
            throw new InvalidDataException($"preprocess_cfg must be a JSON object, not {config.ValueKind}.");
        var fields = new Dictionary<string, JsonElement>(StringComparer.Ordinal);
        foreach (var property in config.EnumerateObject())
        {
            if (!_openClipFields.Contains(property.Name))
                throw new InvalidDataException($"preprocess_cfg.{property.Name} is not a field of open_clip's PreprocessCfg ({string.Join(", ", _openClipFields)}).");
            // open_clip's merge_preprocess_dict drops null values: the default stays.
            if (property.Value.ValueKind != JsonValueKind.Null) fields[property.Name] = property.Value;
        }

        string mode = Text(fields, "mode") ?? "RGB";
        if (mode != "RGB")
            throw new InvalidDataException($"preprocess_cfg.mode is '{mode}'; only 'RGB' is implemented (as in open_clip).");
        var interpolation = (Text(fields, "interpolation") ?? "bicubic") switch
        {
            // open_clip's evaluation transform resizes with bicubic for 'random' too.
            "bicubic" or "random" => ClipInterpolation.Bicubic,
            "bilinear" => ClipInterpolation.Bilinear,
            var other => throw new InvalidDataException($"preprocess_cfg.interpolation is '{other}'; open_clip knows 'bicubic', 'bilinear' and 'random'."),
        };
        var resize = (Text(fields, "resize_mode") ?? "shortest") switch
        {
            "shortest" => ClipResizeMode.ShortestSideCenterCrop,
            "squash" => ClipResizeMode.Squash,
            "longest" => throw new InvalidDataException("preprocess_cfg.resize_mode is 'longest' (resize the longer side, pad with fill_color), which is not implemented; 'shortest' and 'squash' are."),
            var other => throw new InvalidDataException($"preprocess_cfg.resize_mode is '{other}'; open_clip knows 'shortest', 'longest' and 'squash'."),
        };
        if (fields.TryGetValue("fill_color", out var fill) && fill.ValueKind != JsonValueKind.Number)
            throw new InvalidDataException($"preprocess_cfg.fill_color must be a number, not {fill.ValueKind}.");

        int size = imageSize ?? (fields.TryGetValue("size", out var s) ? Size(s) : throw new InvalidDataException("preprocess_cfg has no size, and no image size was given."));
        if (imageSize is null && size < 1)
            throw new InvalidDataException($"preprocess_cfg.size is {size}; it must be positive.");
        var options = new ImagePreprocessingOptions(size)
        {
            ResizeMode = resize,
            Interpolation = interpolation,
            Mean = Channels(fields, "mean", OpenAIClipMean),
            Std = Channels(fields, "std", OpenAIClipStd),
        };
        try
        {
            options.Validate();
        }
        catch (ArgumentException ex)
        {
            throw new InvalidDataException($"preprocess_cfg gives invalid preprocessing: {ex.Message}", ex);
        }
        return options;
    }

    private static string? Text(Dictionary<string, JsonElement> fields, string name)
    {
        if (!fields.TryGetValue(name, out var value)) return null;
        return value.ValueKind == JsonValueKind.String
            ? value.GetString()
            : throw new InvalidDataException($"preprocess_cfg.{name} must be a string, not {value.ValueKind}.");
    }

    /// <summary>An int, or [height, width] with both equal (only square inputs exist here).</summary>
    private static int Size(JsonElement value)
    {
        if (value.ValueKind == JsonValueKind.Number && value.TryGetInt32(out int side)) return side;
        if (value.ValueKind == JsonValueKind.Array && value.GetArrayLength() is 1 or 2 && value.EnumerateArray().All(v => v.ValueKind == JsonValueKind.Number && v.TryGetInt32(out _)))
        {
            var sides = value.EnumerateArray().Select(v => v.GetInt32()).Distinct().ToArray();
            if (sides.Length == 1) return sides[0];
            throw new InvalidDataException($"preprocess_cfg.size is {value.GetRawText()}, not square; only square inputs are implemented.");
        }
        throw new InvalidDataException($"preprocess_cfg.size must be an integer or [height, width], not {value.GetRawText()}.");
    }

    /// <summary>Three per-channel numbers, or one for all three (open_clip: <c>(mean,) * 3</c>).</summary>
    private static IReadOnlyList<float> Channels(Dictionary<string, JsonElement> fields, string name, IReadOnlyList<float> fallback)
    {
        if (!fields.TryGetValue(name, out var value)) return fallback;
        if (value.ValueKind == JsonValueKind.Number) return Enumerable.Repeat(value.GetSingle(), 3).ToArray();
        if (value.ValueKind == JsonValueKind.Array && value.GetArrayLength() == 3 && value.EnumerateArray().All(v => v.ValueKind == JsonValueKind.Number))
            return value.EnumerateArray().Select(v => v.GetSingle()).ToArray();
        throw new InvalidDataException($"preprocess_cfg.{name} must be three numbers (R, G, B) or one number, not {value.GetRawText()}.");
    }
}
