using System;
using System.Linq;
using System.Text.Json;
using Microsoft.ML.Clip.Modeling;

namespace Microsoft.ML.Clip.Imaging;

/// <summary>
/// The image preprocessing of an open_clip hub folder: its <c>preprocess_cfg</c> (open_clip's <c>PreprocessCfg</c>) read
/// into <see cref="ImagePreprocessingOptions"/>. Every preprocessing setting a hub folder can give is decided here, in one place.
/// </summary>
internal static class HubPreprocessing
{
    /// <summary>
    /// <c>size</c> (else the model's image size), <c>mean</c> and <c>std</c> (else OpenAI CLIP's), <c>resize_mode</c>
    /// "shortest" (resize the shorter side, centre crop; the default) or "squash", <c>interpolation</c> "bicubic",
    /// <c>mode</c> "RGB". Other keys are ignored.
    /// </summary>
    /// <exception cref="NotSupportedException">A setting this library does not implement; the message names the file and the field.</exception>
    /// <exception cref="FormatException">A value of the wrong type; the message names the file and the field.</exception>
    public static ImagePreprocessingOptions Read(OpenClipHubFolder hub)
    {
        ArgumentNullException.ThrowIfNull(hub);
        int modelSize = hub.Config.Vision.ImageSize;
        if (hub.PreprocessConfigJson is not { } cfg) return new ImagePreprocessingOptions(modelSize);
        string file = hub.PathOf(OpenClipHubFolder.ConfigFileName);

        int size = cfg.TryGetProperty("size", out var sizeElement) ? Size(sizeElement, file) : modelSize;
        var resize = String(cfg, "resize_mode", file) switch
        {
            null or "shortest" => ClipResizeMode.ShortestSideCenterCrop,
            "squash" => ClipResizeMode.Squash,
            var other => throw Unsupported(file, "resize_mode", other, "\"shortest\" or \"squash\""),
        };
        if (String(cfg, "interpolation", file) is { } interpolation && interpolation != "bicubic")
            throw Unsupported(file, "interpolation", interpolation, "\"bicubic\"");
        if (String(cfg, "mode", file) is { } mode && mode != "RGB")
            throw Unsupported(file, "mode", mode, "\"RGB\"");
        return new ImagePreprocessingOptions(size)
        {
            ResizeMode = resize,
            Mean = Triple(cfg, "mean", file) ?? ImagePreprocessingOptions.OpenAIClipMean,
            Std = Triple(cfg, "std", file) ?? ImagePreprocessingOptions.OpenAIClipStd,
        };
    }

    private static string? String(JsonElement cfg, string key, string file)
    {
        if (!cfg.TryGetProperty(key, out var value) || value.ValueKind == JsonValueKind.Null) return null;
        return value.ValueKind == JsonValueKind.String ? value.GetString()
            : throw new FormatException($"{file}: 'preprocess_cfg.{key}' must be a string, got {value.GetRawText()}.");
    }

    private static float[]? Triple(JsonElement cfg, string key, string file)
    {
        if (!cfg.TryGetProperty(key, out var value) || value.ValueKind == JsonValueKind.Null) return null;
        if (value.ValueKind != JsonValueKind.Array || value.GetArrayLength() != 3
            || value.EnumerateArray().Any(e => e.ValueKind != JsonValueKind.Number))
            throw new FormatException($"{file}: 'preprocess_cfg.{key}' must be three numbers (R, G, B), got {value.GetRawText()}.");
        return value.EnumerateArray().Select(e => (float)e.GetDouble()).ToArray();
    }

    private static int Size(JsonElement value, string file)
    {
        if (value.ValueKind == JsonValueKind.Number && value.TryGetInt32(out int n)) return n;
        if (value.ValueKind == JsonValueKind.Array && value.GetArrayLength() == 2
            && value[0].TryGetInt32(out int h) && value[1].TryGetInt32(out int w))
            return h == w ? h : throw Unsupported(file, "size", $"[{h}, {w}]", "a square size");
        throw new FormatException($"{file}: 'preprocess_cfg.size' must be an integer or a pair of integers, got {value.GetRawText()}.");
    }

    private static NotSupportedException Unsupported(string file, string key, string value, string supported) =>
        new($"{file}: 'preprocess_cfg.{key}' = {value} is not implemented (supported: {supported}).");
}
