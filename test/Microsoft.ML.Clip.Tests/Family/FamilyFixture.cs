using System;
using System.Collections.Generic;
using System.IO;
using Microsoft.ML.Clip.Modeling;
using Microsoft.ML.Clip.Weights;
using static TorchSharp.torch;

namespace Microsoft.ML.Clip.Tests.Family;

/// <summary>
/// The family fixtures (shared/fixtures/family): EVA02-CLIP, SigLIP and SigLIP 2 at tiny sizes, made by open_clip 2.32 with
/// timm 1.0.15 trunks registered under names of the generating script. Those names are mapped here to the arguments the
/// folders' timm_args.json give, as the library maps the released names.
/// </summary>
internal sealed class FamilyFixture : IDisposable
{
    /// <summary>timm_args.json of family/eva02-tiny: eva02_base_patch16_clip_224's arguments, shrunk.</summary>
    public static readonly Eva02Architecture Eva02Tiny = new()
    {
        ImageSize = 32, PatchSize = 8, Width = 64, Depth = 2, Heads = 4, MlpRatio = 2.6666666666666665, ReferenceGrid = 4,
    };

    /// <summary>timm_args.json of family/siglip-tiny and siglip2-tiny: vit_base_patch16_siglip_224's arguments, shrunk.</summary>
    public static readonly SigLipVitArchitecture SigLipTiny = new() { ImageSize = 32, PatchSize = 8, Width = 64, Depth = 2, Heads = 4 };

    static FamilyFixture() => RegisterNames();

    /// <summary>Makes the fixtures' timm names known (idempotent).</summary>
    public static void RegisterNames()
    {
        TimmModels.Register("eva02_tiny_fixture_clip", Eva02Tiny);
        TimmModels.Register("vit_tiny_fixture_siglip", SigLipTiny);
    }

    public FamilyFixture(string name)
    {
        Name = name;
        Folder = Fixtures.Path("family", name);
        Config = ClipConfig.FromOpenClipJson(File.ReadAllText(Path.Combine(Folder, "config.json")));
        WeightsPath = Path.Combine(Folder, "weights.safetensors");
        IO = SafeTensors.Load(Path.Combine(Folder, "io.safetensors"));
    }

    public string Name { get; }
    public string Folder { get; }
    public ClipConfig Config { get; }
    public string WeightsPath { get; }
    public Dictionary<string, Tensor> IO { get; }

    public Tensor Pixels => IO["input.pixels"];
    public Tensor Tokens => IO["input.tokens"];
    public bool IsSigLip => Config.InitLogitBias is not null;

    /// <summary>A model with the fixture weights loaded through <see cref="ClipWeights.Load(ClipModel, string)"/>.</summary>
    public ClipModel LoadModel()
    {
        var model = new ClipModel(Config);
        ClipWeights.Load(model, WeightsPath);
        return model;
    }

    /// <summary>A config of the fixture's architecture from the registered names alone (no file), for tests without fixtures.</summary>
    public static ClipConfig ConfigOf(string name)
    {
        RegisterNames();
        bool eva = name == "eva02-tiny";
        var text = new TextConfig { ContextLength = 16, VocabSize = 1000, Width = 64, Heads = 4, Layers = 2 };
        return eva
            ? new ClipConfig
            {
                EmbedDim = 48, CustomText = true, Text = text,
                Vision = new VisionConfig { ImageSize = 32, Timm = new TimmVisionConfig { ModelName = "eva02_tiny_fixture_clip", Architecture = Eva02Tiny } },
            }
            : new ClipConfig
            {
                EmbedDim = 64, CustomText = true, InitLogitBias = -10,
                Vision = new VisionConfig
                {
                    ImageSize = 32,
                    Timm = new TimmVisionConfig { ModelName = "vit_tiny_fixture_siglip", Architecture = SigLipTiny, HeadProjection = false },
                },
                Text = text with
                {
                    CausalMask = false, Pooling = TextPooling.Last, ProjectionBias = true, LayerNormEps = 1e-6, TanhGelu = name == "siglip2-tiny",
                },
            };
    }

    public void Dispose()
    {
        foreach (var t in IO.Values) t.Dispose();
    }
}
