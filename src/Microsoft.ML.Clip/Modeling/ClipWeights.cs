using System;
using System.Collections.Generic;
using System.IO;
using Microsoft.ML.Clip.Weights;
using static TorchSharp.torch;

namespace Microsoft.ML.Clip.Modeling;

/// <summary>
/// Loads and saves <see cref="ClipModel"/> weights as safetensors. Loading accepts open_clip's layout and
/// Hugging Face transformers' <c>CLIPModel</c> layout (detected from the names) and is strict; saving writes
/// open_clip's layout with the model config in the file metadata.
/// </summary>
public static class ClipWeights
{
    /// <summary>Metadata key holding the open_clip model-config JSON in files written by <see cref="Save"/>.</summary>
    public const string ConfigMetadataKey = "open_clip_config";

    /// <summary>
    /// Loads a safetensors file into <paramref name="model"/>: open_clip or Hugging Face layout, any float dtype
    /// (converted to the model's). Strict: a missing, unexpected or wrongly shaped tensor fails with a
    /// <see cref="StateDictMismatchException"/> listing them, and nothing is copied.
    /// </summary>
    public static void Load(ClipModel model, string path)
    {
        ArgumentNullException.ThrowIfNull(model);
        using var scope = NewDisposeScope(); // disposes the file's tensors and any converted copies
        var tensors = SafeTensors.Load(path);
        Load(model, tensors, path);
    }

    /// <summary>Loads tensors already in memory (open_clip or Hugging Face names); see <see cref="Load(ClipModel, string)"/>.</summary>
    public static void Load(ClipModel model, IReadOnlyDictionary<string, Tensor> tensors, string sourceName = "state dict")
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(tensors);
        if (HuggingFaceClipConverter.IsHuggingFaceLayout(tensors.Keys))
        {
            // The scope owns the fused and transposed copies made here; renamed entries are the caller's
            // tensors, created outside it, so they survive.
            using var scope = NewDisposeScope();
            var converted = HuggingFaceClipConverter.ToOpenClip(tensors);
            StateDictLoader.LoadStrict(model, converted, sourceName + " (Hugging Face layout)");
            return;
        }
        StateDictLoader.LoadStrict(model, tensors, sourceName);
    }

    /// <summary>Writes the model's state dict in open_clip's layout (its current dtype) to a safetensors file, atomically.</summary>
    public static void Save(ClipModel model, string path)
    {
        ArgumentNullException.ThrowIfNull(model);
        var metadata = new Dictionary<string, string>
        {
            ["format"] = "pt",
            [ConfigMetadataKey] = model.Config.ToOpenClipJson(),
        };
        SafeTensors.Save(model.state_dict(), path, metadata);
    }

    /// <summary>The config stored by <see cref="Save"/> in a file's metadata, or null when there is none.</summary>
    public static ClipConfig? ReadConfig(string path)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read);
        var header = SafeTensors.ReadHeader(stream, path);
        return header.Metadata.TryGetValue(ConfigMetadataKey, out var json) ? ClipConfig.FromOpenClipJson(json) : null;
    }
}
