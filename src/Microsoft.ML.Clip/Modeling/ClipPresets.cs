using System;
using System.Collections.Generic;
using System.Linq;

namespace Microsoft.ML.Clip.Modeling;

/// <summary>
/// Named architectures: open_clip's ViT-B-32, ViT-B-16, ViT-L-14 and RN50 (each also as <c>-quickgelu</c>, the
/// activation OpenAI's released weights need), plus small CPU-sized models for training experiments.
/// </summary>
public static class ClipPresets
{
    private static readonly TextConfig OpenAIText512 = new() { ContextLength = 77, VocabSize = 49408, Width = 512, Heads = 8, Layers = 12 };

    /// <summary>open_clip ViT-B-32: 224 px, patch 32, 12 × 768 vision; 12 × 512 text; embed 512 (151,277,313 parameters).</summary>
    public static ClipConfig VitB32 { get; } = new()
    {
        EmbedDim = 512,
        Vision = new VisionConfig { ImageSize = 224, Layers = 12, Width = 768, PatchSize = 32 },
        Text = OpenAIText512,
    };

    /// <summary>open_clip ViT-B-16: as ViT-B-32 with 16 px patches (149,620,737 parameters).</summary>
    public static ClipConfig VitB16 { get; } = VitB32 with { Vision = VitB32.Vision with { PatchSize = 16 } };

    /// <summary>open_clip ViT-L-14: 224 px, patch 14, 24 × 1024 vision; 12 × 768 text; embed 768 (427,616,513 parameters).</summary>
    public static ClipConfig VitL14 { get; } = new()
    {
        EmbedDim = 768,
        Vision = new VisionConfig { ImageSize = 224, Layers = 24, Width = 1024, PatchSize = 14 },
        Text = new TextConfig { ContextLength = 77, VocabSize = 49408, Width = 768, Heads = 12, Layers = 12 },
    };

    /// <summary>open_clip RN50: ModifiedResNet [3, 4, 6, 3], width 64, 224 px; 12 × 512 text; embed 1024 (102,007,137 parameters).</summary>
    public static ClipConfig RN50 { get; } = new()
    {
        EmbedDim = 1024,
        Vision = new VisionConfig { ImageSize = 224, ResNetLayers = new[] { 3, 4, 6, 3 }, Width = 64 },
        Text = OpenAIText512,
    };

    /// <summary>
    /// A tiny CPU model for tests and smoke runs: 64 px, patch 16, 4 × 128 vision; context 32, 4 × 128 text;
    /// embed 128; the full 49,408-token vocabulary so the real tokenizer can feed it.
    /// </summary>
    public static ClipConfig Tiny { get; } = new()
    {
        EmbedDim = 128,
        Vision = new VisionConfig { ImageSize = 64, Layers = 4, Width = 128, HeadWidth = 32, PatchSize = 16 },
        Text = new TextConfig { ContextLength = 32, VocabSize = 49408, Width = 128, Heads = 4, Layers = 4 },
    };

    /// <summary>
    /// A small CPU-trainable model (the benchmark "train-small"): 96 px, patch 16, 6 × 256 vision (head width 64);
    /// context 32, 6 × 256 text with 4 heads; embed 256.
    /// </summary>
    public static ClipConfig Small { get; } = new()
    {
        EmbedDim = 256,
        Vision = new VisionConfig { ImageSize = 96, Layers = 6, Width = 256, HeadWidth = 64, PatchSize = 16 },
        Text = new TextConfig { ContextLength = 32, VocabSize = 49408, Width = 256, Heads = 4, Layers = 6 },
    };

    private static readonly Dictionary<string, ClipConfig> ByName = BuildTable();

    /// <summary>All preset names, e.g. <c>ViT-B-32</c>, <c>ViT-B-32-quickgelu</c>, <c>tiny</c>.</summary>
    public static IReadOnlyCollection<string> Names => ByName.Keys;

    /// <summary>The preset called <paramref name="name"/> (case-insensitive).</summary>
    /// <exception cref="ArgumentException">No such preset; the message lists the known names.</exception>
    public static ClipConfig Get(string name) =>
        TryGet(name, out var config) ? config
            : throw new ArgumentException($"Unknown CLIP preset '{name}'. Known presets: {string.Join(", ", Names)}.", nameof(name));

    /// <summary>Looks up a preset by name (case-insensitive).</summary>
    public static bool TryGet(string name, out ClipConfig config) => ByName.TryGetValue(name ?? "", out config!);

    private static Dictionary<string, ClipConfig> BuildTable()
    {
        var table = new Dictionary<string, ClipConfig>(StringComparer.OrdinalIgnoreCase);
        foreach (var (name, config) in new[] { ("ViT-B-32", VitB32), ("ViT-B-16", VitB16), ("ViT-L-14", VitL14), ("RN50", RN50) })
        {
            table[name] = config;
            table[name + "-quickgelu"] = config with { QuickGelu = true };
        }
        table["tiny"] = Tiny;
        table["small"] = Small;
        return table;
    }
}
