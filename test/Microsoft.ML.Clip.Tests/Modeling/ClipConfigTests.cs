using System;
using System.IO;
using System.Linq;
using Microsoft.ML.Clip.Modeling;
using TorchSharp;
using Xunit;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace Microsoft.ML.Clip.Tests.Modeling;

public class ClipConfigTests(ITestOutputHelper output)
{
    private static string FixtureConfig(string name) => File.ReadAllText(Fixtures.Path("openclip", name, "config.json"));

    [Trait("Category", "Fixtures")]
    [FixtureTheory]
    [InlineData("tiny-gelu", false)]
    [InlineData("tiny-quickgelu", true)]
    public void ViTFixtureConfigsParse(string name, bool quickGelu)
    {
        var config = ClipConfig.FromOpenClipJson(FixtureConfig(name));
        Assert.Equal(48, config.EmbedDim);
        Assert.Equal(quickGelu, config.QuickGelu);
        Assert.Equal(new VisionConfig { ImageSize = 32, Layers = 2, Width = 64, HeadWidth = 16, PatchSize = 8, MlpRatio = 4 }, config.Vision);
        Assert.False(config.Vision.IsResNet);
        Assert.Equal(4, config.Vision.Heads);
        Assert.Equal(new TextConfig { ContextLength = 16, VocabSize = 1000, Width = 64, Heads = 4, Layers = 2 }, config.Text);
        Assert.Equal(ClipConfig.DefaultInitLogitScale, config.InitLogitScale);
        Assert.Null(config.InitLogitBias);
    }

    [Trait("Category", "Fixtures")]
    [FixtureFact]
    public void ResNetFixtureConfigParses()
    {
        var config = ClipConfig.FromOpenClipJson(FixtureConfig("tiny-rn-quickgelu"));
        Assert.True(config.Vision.IsResNet);
        Assert.Equal([1, 1, 1, 1], config.Vision.ResNetLayers);
        Assert.Equal(16, config.Vision.Width);
        Assert.Equal(16, config.Vision.HeadWidth);
        Assert.Equal(32, config.Vision.Heads); // width * 32 / head_width, as open_clip
        Assert.True(config.QuickGelu);
        Assert.Equal(64, config.Text.Width);
    }

    [Theory]
    [InlineData("ViT-B-32")]
    [InlineData("ViT-L-14-quickgelu")]
    [InlineData("RN50")]
    [InlineData("small")]
    public void JsonRoundTrips(string preset)
    {
        var config = ClipPresets.Get(preset);
        Assert.Equal(config, ClipConfig.FromOpenClipJson(config.ToOpenClipJson()));
        var siglipish = config with { InitLogitScale = Math.Log(10), InitLogitBias = -10 };
        Assert.Equal(siglipish, ClipConfig.FromOpenClipJson(siglipish.ToOpenClipJson()));
    }

    [Fact]
    public void OpenClipRepositoryFileParses()
    {
        // open_clip's model_configs/RN50.json layout, unknown keys included.
        const string json = """
            { "embed_dim": 1024, "some_future_key": {"x": 1},
              "vision_cfg": { "image_size": 224, "layers": [3, 4, 6, 3], "width": 64, "patch_size": null },
              "text_cfg": { "context_length": 77, "vocab_size": 49408, "width": 512, "heads": 8, "layers": 12,
                            "hf_tokenizer_name": "", "tokenizer_kwargs": {"clean": "canonicalize"} } }
            """;
        Assert.Equal(ClipPresets.RN50, ClipConfig.FromOpenClipJson(json));
    }

    [Fact]
    public void HubFileWithModelCfgParses()
    {
        const string json = """
            { "model_cfg": { "embed_dim": 512, "quick_gelu": true,
                "vision_cfg": { "image_size": [224, 224], "layers": 12, "width": 768, "patch_size": 32 },
                "text_cfg": { "context_length": 77, "vocab_size": 49408, "width": 512, "heads": 8, "layers": 12 } },
              "preprocess_cfg": { "mean": [0.48145466, 0.4578275, 0.40821073], "std": [0.26862954, 0.26130258, 0.27577711] } }
            """;
        Assert.Equal(ClipPresets.Get("ViT-B-32-quickgelu"), ClipConfig.FromOpenClipJson(json));
    }

    [Theory]
    [InlineData("\"vision_cfg\": { \"timm_model_name\": \"convnext_base\", \"timm_pool\": \"avg\", \"timm_proj\": \"linear\" }", "vision_cfg.timm_model_name")]
    [InlineData("\"vision_cfg\": { \"timm_model_name\": \"vit_base_patch16_siglip_224\", \"timm_pool\": \"avg\", \"timm_proj\": \"none\" }", "vision_cfg.timm_pool")]
    [InlineData("\"vision_cfg\": { \"timm_model_name\": \"eva02_base_patch16_clip_224\", \"timm_pool\": \"token\", \"timm_proj\": \"linear\" }", "vision_cfg.timm_proj")]
    [InlineData("\"vision_cfg\": { \"timm_model_name\": \"eva02_base_patch16_clip_224\", \"timm_pool\": \"token\" }", "vision_cfg.timm_proj")]
    [InlineData("\"vision_cfg\": { \"timm_model_name\": \"eva02_base_patch16_clip_224\", \"timm_pool\": \"token\", \"timm_proj\": null, \"timm_drop_path\": 0.1 }", "vision_cfg.timm_drop_path")]
    [InlineData("\"vision_cfg\": { \"timm_model_name\": \"eva02_base_patch16_clip_224\", \"timm_pool\": \"token\", \"timm_proj\": null, \"timm_model_pretrained\": true }", "vision_cfg.timm_model_pretrained")]
    [InlineData("\"vision_cfg\": { \"layers\": 12, \"width\": 768, \"patch_size\": 16, \"ls_init_value\": 0.1 }", "vision_cfg.ls_init_value")]
    [InlineData("\"vision_cfg\": { \"layers\": 12, \"width\": 768, \"patch_size\": 16, \"attentional_pool\": true }", "vision_cfg.attentional_pool")]
    public void UnsupportedFeaturesAreRejectedByName(string visionPart, string key)
    {
        string json = "{ \"embed_dim\": 512, " + visionPart + ", \"text_cfg\": { \"width\": 512, \"heads\": 8, \"layers\": 12 } }";
        var ex = Assert.Throws<NotSupportedException>(() => ClipConfig.FromOpenClipJson(json));
        Assert.Contains("'" + key + "'", ex.Message);
    }

    [Fact]
    public void UnsupportedTextFeatureIsRejectedByName()
    {
        const string json = """
            { "embed_dim": 512, "vision_cfg": { "layers": 12, "width": 768, "patch_size": 16 },
              "text_cfg": { "hf_model_name": "roberta-base", "width": 512, "heads": 8, "layers": 12, "embed_cls": true } }
            """;
        var ex = Assert.Throws<NotSupportedException>(() => ClipConfig.FromOpenClipJson(json));
        Assert.Contains("'text_cfg.hf_model_name'", ex.Message);
        Assert.Contains("'text_cfg.embed_cls'", ex.Message);
    }

    [Theory]
    [InlineData("\"pool_type\": \"none\"", "text_cfg.pool_type")]
    [InlineData("\"norm_kwargs\": { \"eps\": 1e-6, \"elementwise_affine\": false }", "text_cfg.norm_kwargs.elementwise_affine")]
    [InlineData("\"norm_kwargs\": { \"eps\": -1 }", "text_cfg.norm_kwargs.eps")]
    [InlineData("\"act_kwargs\": { \"approximate\": \"sigmoid\" }", "text_cfg.act_kwargs.approximate")]
    [InlineData("\"act_kwargs\": { \"inplace\": true }", "text_cfg.act_kwargs.inplace")]
    [InlineData("\"proj_type\": \"mlp\"", "text_cfg.proj_type")]
    public void UnsupportedTextOptionsAreRejectedByName(string option, string key)
    {
        string json = "{ \"embed_dim\": 512, \"vision_cfg\": { \"layers\": 12, \"width\": 768, \"patch_size\": 16 }, " +
                      "\"text_cfg\": { \"width\": 512, \"heads\": 8, \"layers\": 12, " + option + " } }";
        var ex = Assert.Throws<NotSupportedException>(() => ClipConfig.FromOpenClipJson(json));
        Assert.Contains("'" + key + "'", ex.Message);
    }

    [Fact]
    public void TextOptionsReadAndWriteBack()
    {
        const string json = """
            { "embed_dim": 512, "vision_cfg": { "layers": 12, "width": 768, "patch_size": 16 },
              "text_cfg": { "width": 512, "heads": 8, "layers": 12, "no_causal_mask": true, "pool_type": "first", "proj_bias": true,
                            "norm_kwargs": { "eps": 1e-6 }, "act_kwargs": { "approximate": "tanh" } } }
            """;
        var config = ClipConfig.FromOpenClipJson(json);
        Assert.Equal((false, TextPooling.First, true, 1e-6, true),
            (config.Text.CausalMask, config.Text.Pooling, config.Text.ProjectionBias, config.Text.LayerNormEps, config.Text.TanhGelu));
        Assert.False(config.CustomText);
        Assert.Equal(config, ClipConfig.FromOpenClipJson(config.ToOpenClipJson()));
        // QuickGELU with a GELU approximation is what open_clip cannot build either.
        Assert.Throws<FormatException>(() => ClipConfig.FromOpenClipJson(json.Replace("\"embed_dim\": 512,", "\"embed_dim\": 512, \"quick_gelu\": true,")));
    }

    [Fact]
    public void TimmTowerNeedsItsWidthAsEmbeddingWithoutProjection()
    {
        const string json = """
            { "embed_dim": 512, "custom_text": true,
              "vision_cfg": { "image_size": 224, "timm_model_name": "vit_base_patch16_siglip_224", "timm_pool": "map", "timm_proj": "none" },
              "text_cfg": { "width": 512, "heads": 8, "layers": 12 } }
            """;
        var ex = Assert.Throws<FormatException>(() => ClipConfig.FromOpenClipJson(json));
        Assert.Contains("embed_dim must be 768", ex.Message);
        var wrongSize = Assert.Throws<FormatException>(() => ClipConfig.FromOpenClipJson(json.Replace("\"image_size\": 224", "\"image_size\": 256")));
        Assert.Contains("takes 224 px images", wrongSize.Message);
    }

    [Theory]
    [InlineData("not json")]
    [InlineData("[1, 2]")]
    [InlineData("{ \"vision_cfg\": {}, \"text_cfg\": {} }")]
    [InlineData("{ \"embed_dim\": \"big\", \"vision_cfg\": {}, \"text_cfg\": {} }")]
    [InlineData("{ \"embed_dim\": 64, \"vision_cfg\": { \"layers\": [1, 2] }, \"text_cfg\": {} }")]
    [InlineData("{ \"embed_dim\": 64, \"vision_cfg\": { \"image_size\": 100, \"patch_size\": 16 }, \"text_cfg\": {} }")]
    [InlineData("{ \"embed_dim\": 64, \"vision_cfg\": { \"patch_size\": null }, \"text_cfg\": {} }")]
    public void MalformedConfigsAreFormatErrors(string json)
    {
        Assert.Throws<FormatException>(() => ClipConfig.FromOpenClipJson(json));
    }

    [Fact]
    public void PresetsAreNamedAsOpenClip()
    {
        foreach (var name in new[] { "ViT-B-32", "ViT-B-32-quickgelu", "ViT-B-16", "ViT-B-16-quickgelu", "ViT-L-14",
                     "ViT-L-14-quickgelu", "RN50", "RN50-quickgelu", "tiny", "small" })
            Assert.Contains(name, ClipPresets.Names);
        Assert.True(ClipPresets.Get("vit-b-32-QuickGelu").QuickGelu);
        Assert.False(ClipPresets.Get("ViT-B-32").QuickGelu);
        var ex = Assert.Throws<ArgumentException>(() => ClipPresets.Get("ViT-H-99"));
        Assert.Contains("ViT-B-32", ex.Message);

        var small = ClipPresets.Small;
        Assert.Equal((256, 96, 16, 6, 256, 64), (small.EmbedDim, small.Vision.ImageSize, small.Vision.PatchSize,
            small.Vision.Layers, small.Vision.Width, small.Vision.HeadWidth));
        Assert.Equal((32, 49408, 256, 4, 6), (small.Text.ContextLength, small.Text.VocabSize, small.Text.Width,
            small.Text.Heads, small.Text.Layers));
    }

    [Theory]
    [InlineData("ViT-B-32", 151_277_313L)]
    [InlineData("ViT-B-16", 149_620_737L)]
    [InlineData("ViT-L-14", 427_616_513L)]
    public void PresetParameterCountsMatchOpenClip(string preset, long expected)
    {
        // The meta device builds the structure without allocating or initialising memory.
        using var model = new ClipModel(ClipPresets.Get(preset), device: new Device("meta"));
        long count = model.parameters().Sum(p => p.numel());
        output.WriteLine($"{preset}: {count:N0} parameters");
        Assert.Equal(expected, count);
        Assert.Equal(DeviceType.META, model.Device.type);
    }

    [Fact]
    public void ResNetPresetNeedsTheResNetTower()
    {
        if (ImageTowers.ModifiedResNetAvailable)
        {
            using var model = new ClipModel(ClipPresets.RN50, device: new Device("meta"));
            Assert.Equal(102_007_137L, model.parameters().Sum(p => p.numel()));
            return;
        }
        var ex = Assert.Throws<NotSupportedException>(() => new ClipModel(ClipPresets.RN50, device: new Device("meta")));
        Assert.Equal("ModifiedResNet vision towers are not available in this build.", ex.Message);
    }

    [Fact]
    public void SmallPresetsBuildOnTheCpu()
    {
        foreach (var name in new[] { "tiny", "small" })
        {
            using var model = new ClipModel(ClipPresets.Get(name));
            output.WriteLine($"{name}: {model.parameters().Sum(p => p.numel()):N0} parameters");
            Assert.Equal(DeviceType.CPU, model.Device.type);
            Assert.Equal(ScalarType.Float32, model.DType);
        }
    }
}
