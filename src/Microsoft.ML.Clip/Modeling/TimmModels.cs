using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Linq;

namespace Microsoft.ML.Clip.Modeling;

/// <summary>
/// The timm model names open_clip configs may give as <c>vision_cfg.timm_model_name</c>, with the constructor arguments
/// each stands for in timm 1.0.15: the EVA02-CLIP trunks (<c>eva02_base_patch16_clip_224</c>,
/// <c>eva02_large_patch14_clip_224</c>, <c>eva02_large_patch14_clip_336</c>) and the SigLIP / SigLIP 2 ViTs with
/// attention-pool heads (<c>vit_base_patch16_siglip_224</c> … <c>vit_giantopt_patch16_siglip_384</c>). Other names are
/// refused when a config is read, unless registered with <see cref="Register"/> first.
/// </summary>
public static class TimmModels
{
    private static readonly ConcurrentDictionary<string, TimmTowerArchitecture> Known = new(Released(), StringComparer.Ordinal);

    /// <summary>Every name known now, sorted.</summary>
    public static IReadOnlyList<string> Names => Known.Keys.OrderBy(n => n, StringComparer.Ordinal).ToList();

    /// <summary>The architecture <paramref name="name"/> stands for.</summary>
    /// <exception cref="NotSupportedException">The name is not known; the message lists the known ones.</exception>
    public static TimmTowerArchitecture Get(string name) =>
        TryGet(name, out var architecture) ? architecture
            : throw new NotSupportedException($"The timm model '{name}' is not one this library builds. Known: {string.Join(", ", Names)} " +
                $"(TimmModels.Register adds a name for an architecture of one of these families).");

    /// <summary>Looks up the architecture of <paramref name="name"/>.</summary>
    public static bool TryGet(string name, out TimmTowerArchitecture architecture) => Known.TryGetValue(name ?? "", out architecture!);

    /// <summary>
    /// Makes <paramref name="name"/> stand for <paramref name="architecture"/> in configs read from now on (e.g. a
    /// fine-tuned model registered under a name of its own). Registering a known name again with the same architecture
    /// does nothing.
    /// </summary>
    /// <exception cref="ArgumentException">The architecture is invalid, or the name already stands for another one.</exception>
    public static void Register(string name, TimmTowerArchitecture architecture)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        ArgumentNullException.ThrowIfNull(architecture);
        architecture.Validate();
        var stored = Known.GetOrAdd(name, architecture);
        if (!stored.Equals(architecture))
            throw new ArgumentException($"The timm model '{name}' already stands for {stored}.", nameof(name));
    }

    private static IEnumerable<KeyValuePair<string, TimmTowerArchitecture>> Released()
    {
        const double EvaMlp = 4 * 2 / 3.0; // timm: mlp_ratio=4 * 2 / 3
        const double So400mMlp = 3.7362;
        var eva02Base = new Eva02Architecture { ImageSize = 224, PatchSize = 16, Width = 768, Depth = 12, Heads = 12, MlpRatio = EvaMlp, ReferenceGrid = 16 };
        var eva02Large = new Eva02Architecture { ImageSize = 224, PatchSize = 14, Width = 1024, Depth = 24, Heads = 16, MlpRatio = EvaMlp, ReferenceGrid = 16 };
        var vitBase = new SigLipVitArchitecture { ImageSize = 224, PatchSize = 16, Width = 768, Depth = 12, Heads = 12 };
        var vitLarge = vitBase with { Width = 1024, Depth = 24, Heads = 16 };
        var so400m = vitBase with { PatchSize = 14, Width = 1152, Depth = 27, Heads = 16, MlpRatio = So400mMlp };
        var giantOpt = vitBase with { Width = 1536, Depth = 40, Heads = 16, TanhGelu = true };
        var entries = new (string Name, TimmTowerArchitecture Architecture)[]
        {
            ("eva02_base_patch16_clip_224", eva02Base),
            ("eva02_large_patch14_clip_224", eva02Large),
            ("eva02_large_patch14_clip_336", eva02Large with { ImageSize = 336 }),
            ("vit_base_patch32_siglip_256", vitBase with { ImageSize = 256, PatchSize = 32, TanhGelu = true }),
            ("vit_base_patch16_siglip_224", vitBase),
            ("vit_base_patch16_siglip_256", vitBase with { ImageSize = 256 }),
            ("vit_base_patch16_siglip_384", vitBase with { ImageSize = 384 }),
            ("vit_base_patch16_siglip_512", vitBase with { ImageSize = 512 }),
            ("vit_large_patch16_siglip_256", vitLarge with { ImageSize = 256 }),
            ("vit_large_patch16_siglip_384", vitLarge with { ImageSize = 384 }),
            ("vit_large_patch16_siglip_512", vitLarge with { ImageSize = 512, TanhGelu = true }),
            ("vit_so400m_patch14_siglip_224", so400m),
            ("vit_so400m_patch14_siglip_378", so400m with { ImageSize = 378 }),
            ("vit_so400m_patch16_siglip_256", so400m with { ImageSize = 256, PatchSize = 16, TanhGelu = true }),
            ("vit_so400m_patch16_siglip_384", so400m with { ImageSize = 384, PatchSize = 16, TanhGelu = true }),
            ("vit_so400m_patch16_siglip_512", so400m with { ImageSize = 512, PatchSize = 16, TanhGelu = true }),
            ("vit_giantopt_patch16_siglip_256", giantOpt with { ImageSize = 256 }),
            ("vit_giantopt_patch16_siglip_384", giantOpt with { ImageSize = 384 }),
        };
        return entries.Select(e => KeyValuePair.Create(e.Name, e.Architecture));
    }
}
