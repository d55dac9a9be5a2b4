using System.Linq;
using Microsoft.ML.Clip.Modeling;
using TorchSharp;
using Xunit;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace Microsoft.ML.Clip.Tests.Family;

/// <summary>The released sizes: parameter counts equal open_clip 2.32's, and the released configs read as the presets.</summary>
public class FamilyPresetTests(ITestOutputHelper output)
{
    /// <summary>Counts on the meta device (structure only, nothing allocated); the expected numbers are open_clip 2.32 / timm 1.0.15's.</summary>
    [Theory]
    [InlineData("EVA02-B-16", 149_691_137L, 86_263_040L)]
    [InlineData("EVA02-L-14", 427_755_457L, null)]
    [InlineData("ViT-B-16-SigLIP", 203_155_970L, 92_884_224L)]
    [InlineData("ViT-B-16-SigLIP2", 375_187_970L, null)]
    [InlineData("ViT-SO400M-14-SigLIP", 877_360_306L, null)]
    public void PresetParameterCountsMatchOpenClip(string preset, long expected, long? expectedImage)
    {
        using var model = new ClipModel(ClipPresets.Get(preset), device: new Device("meta"));
        var parameters = model.named_parameters().ToList();
        long total = parameters.Sum(p => p.parameter.numel());
        long image = parameters.Where(p => p.name.StartsWith("visual.", System.StringComparison.Ordinal)).Sum(p => p.parameter.numel());
        output.WriteLine($"{preset}: {total:N0} parameters, image tower {image:N0}, text tower {total - image - parameters.Count(p => p.name.StartsWith("logit_", System.StringComparison.Ordinal)):N0}");
        Assert.Equal(expected, total);
        if (expectedImage is long imageCount) Assert.Equal(imageCount, image);
        Assert.Equal(DeviceType.META, model.Device.type);
    }

    [Fact]
    public void SigLipTextTowerHasOpenClipsSize()
    {
        using var model = new ClipModel(ClipPresets.VitB16SigLip, device: new Device("meta"));
        long text = model.named_parameters().Where(p => p.name.StartsWith("text.", System.StringComparison.Ordinal)).Sum(p => p.parameter.numel());
        Assert.Equal(110_271_744L, text);
    }

    /// <summary>open_clip's released configs (model_cfg of the hub files) read as the presets, and the presets write back to themselves.</summary>
    [Theory]
    [InlineData("EVA02-B-16", """
        {"embed_dim": 512, "vision_cfg": {"image_size": 224, "timm_model_name": "eva02_base_patch16_clip_224",
         "timm_model_pretrained": false, "timm_pool": "token", "timm_proj": null},
         "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 512, "heads": 8, "layers": 12}, "custom_text": true}
        """)]
    [InlineData("ViT-B-16-SigLIP2", """
        {"model_cfg": {"embed_dim": 768, "init_logit_bias": -10, "custom_text": true,
          "vision_cfg": {"image_size": 224, "timm_model_name": "vit_base_patch16_siglip_224", "timm_model_pretrained": false,
                         "timm_pool": "map", "timm_proj": "none"},
          "text_cfg": {"context_length": 64, "vocab_size": 256000, "hf_tokenizer_name": "timm/ViT-B-16-SigLIP2",
                       "tokenizer_kwargs": {"clean": "canonicalize"}, "width": 768, "heads": 12, "layers": 12,
                       "no_causal_mask": true, "proj_bias": true, "pool_type": "last", "norm_kwargs": {"eps": 1e-6},
                       "act_kwargs": {"approximate": "tanh"}}},
         "preprocess_cfg": {"mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5], "interpolation": "bicubic", "resize_mode": "squash"}}
        """)]
    [InlineData("ViT-SO400M-14-SigLIP", """
        {"embed_dim": 1152, "init_logit_bias": -10, "custom_text": true,
         "vision_cfg": {"image_size": 224, "timm_model_name": "vit_so400m_patch14_siglip_224", "timm_model_pretrained": false,
                        "timm_pool": "map", "timm_proj": "none"},
         "text_cfg": {"context_length": 16, "vocab_size": 32000, "width": 1152, "heads": 16, "layers": 27, "mlp_ratio": 3.7362,
                      "no_causal_mask": true, "proj_bias": true, "pool_type": "last", "norm_kwargs": {"eps": 1e-6}}}
        """)]
    public void ReleasedConfigsReadAsThePresets(string preset, string json)
    {
        var config = ClipConfig.FromOpenClipJson(json);
        Assert.Equal(ClipPresets.Get(preset), config);
        Assert.Equal(config, ClipConfig.FromOpenClipJson(config.ToOpenClipJson()));
    }
}
