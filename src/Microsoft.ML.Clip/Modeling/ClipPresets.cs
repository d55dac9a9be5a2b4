using System;
using System.Collections.Generic;
using System.Linq;

namespace Microsoft.ML.Clip.Modeling;

/// <summary>
/// Named architectures: open_clip's ViT-B-32, ViT-B-16, ViT-L-14 and RN50 (each also as <c>-quickgelu</c>, the
/// activation OpenAI's released weights need), EVA02-B-16, EVA02-L-14, ViT-B-16-SigLIP, ViT-B-16-SigLIP2 and
/// ViT-SO400M-14-SigLIP (open_clip 2.32's configs of those names; their parameter counts equal open_clip's), plus small
/// CPU-sized models for training experiments.
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
    /// open_clip EVA02-B-16 (EVA02-CLIP): timm <c>eva02_base_patch16_clip_224</c> image trunk with its head as
    /// projection; 12 × 512 CLIP text tower in <c>CustomTextCLIP</c> layout; embed 512 (149,691,137 parameters, the
    /// image tower 86,263,040).
    /// </summary>
    public static ClipConfig Eva02B16 { get; } = Eva02("eva02_base_patch16_clip_224", 512, OpenAIText512);

    /// <summary>open_clip EVA02-L-14: timm <c>eva02_large_patch14_clip_224</c>; 12 × 768 text; embed 768 (427,755,457 parameters).</summary>
    public static ClipConfig Eva02L14 { get; } = Eva02("eva02_large_patch14_clip_224", 768,
        new TextConfig { ContextLength = 77, VocabSize = 49408, Width = 768, Heads = 12, Layers = 12 });

    /// <summary>
    /// open_clip ViT-B-16-SigLIP: timm <c>vit_base_patch16_siglip_224</c> (attention-pool head, no projection); SigLIP's
    /// text tower (context 64, vocabulary 32,000, 12 × 768, no causal mask, last-position pooling, biased projection,
    /// LayerNorm eps 1e-6); embed 768; logit bias −10 (203,155,970 parameters: image 92,884,224, text 110,271,744).
    /// </summary>
    public static ClipConfig VitB16SigLip { get; } = SigLip("vit_base_patch16_siglip_224", 768, SigLipText(64, 32_000, 768, 12, 12));

    /// <summary>open_clip ViT-B-16-SigLIP2: as ViT-B-16-SigLIP with the Gemma vocabulary (256,000) and tanh GELU in the text tower (375,187,970 parameters).</summary>
    public static ClipConfig VitB16SigLip2 { get; } = SigLip("vit_base_patch16_siglip_224", 768,
        SigLipText(64, 256_000, 768, 12, 12) with { TanhGelu = true });

    /// <summary>open_clip ViT-SO400M-14-SigLIP: timm <c>vit_so400m_patch14_siglip_224</c>; text context 16, 27 × 1152, MLP ratio 3.7362; embed 1152 (877,360,306 parameters).</summary>
    public static ClipConfig VitSo400m14SigLip { get; } = SigLip("vit_so400m_patch14_siglip_224", 1152,
        SigLipText(16, 32_000, 1152, 16, 27) with { MlpRatio = 3.7362 });

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
        foreach (var (name, config) in new[] { ("EVA02-B-16", Eva02B16), ("EVA02-L-14", Eva02L14), ("ViT-B-16-SigLIP", VitB16SigLip),
                     ("ViT-B-16-SigLIP2", VitB16SigLip2), ("ViT-SO400M-14-SigLIP", VitSo400m14SigLip) })
            table[name] = config;
        table["tiny"] = Tiny;
        table["small"] = Small;
        return table;
    }

    private static ClipConfig Eva02(string timmName, int embedDim, TextConfig text) => new()
    {
        EmbedDim = embedDim,
        CustomText = true,
        Vision = Timm(timmName, headProjection: true),
        Text = text,
    };

    private static ClipConfig SigLip(string timmName, int embedDim, TextConfig text) => new()
    {
        EmbedDim = embedDim,
        CustomText = true,
        InitLogitBias = -10,
        Vision = Timm(timmName, headProjection: false),
        Text = text,
    };

    private static VisionConfig Timm(string timmName, bool headProjection)
    {
        var architecture = TimmModels.Get(timmName);
        return new VisionConfig
        {
            ImageSize = architecture.ImageSize,
            Timm = new TimmVisionConfig { ModelName = timmName, Architecture = architecture, HeadProjection = headProjection },
        };
    }

    private static TextConfig SigLipText(int context, int vocabulary, int width, int heads, int layers) => new()
    {
        ContextLength = context, VocabSize = vocabulary, Width = width, Heads = heads, Layers = layers,
        CausalMask = false, Pooling = TextPooling.Last, ProjectionBias = true, LayerNormEps = 1e-6,
    };
}
