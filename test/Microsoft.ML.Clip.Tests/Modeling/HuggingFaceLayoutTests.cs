using System;
using System.Collections.Generic;
using System.Linq;
using System.Text.RegularExpressions;
using Microsoft.ML.Clip.Modeling;
using Xunit;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace Microsoft.ML.Clip.Tests.Modeling;

/// <summary>
/// Hugging Face <c>CLIPModel</c> checkpoints load into the same model. The HF state dict is built here by the
/// test's own mapping (independent of the library's converter) from the open_clip fixture weights.
/// </summary>
public class HuggingFaceLayoutTests(ITestOutputHelper output)
{
    [Trait("Category", "Fixtures")]
    [FixtureTheory]
    [InlineData("tiny-gelu")]
    [InlineData("tiny-quickgelu")]
    public void HuggingFaceLayoutGivesTheSameOutputs(string name)
    {
        using var fx = new TinyFixture(name);
        using var scope = NewDisposeScope();
        var hf = ToHuggingFace(fx.Weights);
        Assert.Contains("vision_model.encoder.layers.1.self_attn.k_proj.weight", hf.Keys);
        Assert.Contains("vision_model.pre_layrnorm.weight", hf.Keys);
        Assert.DoesNotContain(hf.Keys, k => k.Contains("in_proj"));

        using var model = new ClipModel(fx.Config);
        ClipWeights.Load(model, hf, "hf test dict");
        model.eval();
        using var _ = no_grad();
        var image = model.EncodeImage(fx.Pixels);
        var text = model.EncodeText(fx.Tokens);
        double e1 = TensorAssert.Close(image, fx.IO["output.image_features"], 1e-4, 1e-4, "image features");
        double e2 = TensorAssert.Close(text, fx.IO["output.text_features"], 1e-4, 1e-4, "text features");

        // Bit-identical weights to the open_clip-layout load.
        using var reference = fx.LoadModel();
        var loaded = model.state_dict();
        foreach (var (key, value) in reference.state_dict())
            Assert.True(value.eq(loaded[key]).all().item<bool>(), $"{key} differs from the open_clip-layout load.");
        output.WriteLine($"{name} via HF layout: max |Δ| image {e1:E2}, text {e2:E2}; {hf.Count} HF tensors");
    }

    [Trait("Category", "Fixtures")]
    [FixtureFact]
    public void HuggingFaceFileIsDetectedAndLoadedFromDisk()
    {
        using var fx = new TinyFixture("tiny-gelu");
        using var scope = NewDisposeScope();
        var hf = ToHuggingFace(fx.Weights);
        var path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), $"clip-hf-{Guid.NewGuid():N}.safetensors");
        try
        {
            Microsoft.ML.Clip.Weights.SafeTensors.Save(hf, path);
            using var model = new ClipModel(fx.Config);
            ClipWeights.Load(model, path);
            model.eval();
            using var _ = no_grad();
            TensorAssert.Close(model.EncodeText(fx.Tokens), fx.IO["output.text_features"], 1e-4, 1e-4, "text features");
        }
        finally
        {
            System.IO.File.Delete(path);
        }
    }

    [Trait("Category", "Fixtures")]
    [FixtureFact]
    public void IncompleteQkvIsReportedByName()
    {
        using var fx = new TinyFixture("tiny-gelu");
        using var scope = NewDisposeScope();
        var hf = ToHuggingFace(fx.Weights);
        hf.Remove("text_model.encoder.layers.1.self_attn.v_proj.weight");
        using var model = new ClipModel(fx.Config);
        var ex = Assert.Throws<StateDictMismatchException>(() => ClipWeights.Load(model, hf));
        Assert.Contains("transformer.resblocks.1.attn.in_proj_weight", ex.Missing);
        Assert.Contains("text_model.encoder.layers.1.self_attn.q_proj.weight", ex.Unexpected);
    }

    [Fact]
    public void HuggingFaceConfigIsRead()
    {
        const string json = """
            {
              "architectures": ["CLIPModel"], "projection_dim": 512, "logit_scale_init_value": 2.6592,
              "text_config": { "hidden_size": 512, "intermediate_size": 2048, "num_attention_heads": 8,
                               "num_hidden_layers": 12, "max_position_embeddings": 77, "vocab_size": 49408,
                               "hidden_act": "quick_gelu", "layer_norm_eps": 1e-05 },
              "vision_config": { "hidden_size": 768, "intermediate_size": 3072, "num_attention_heads": 12,
                                 "num_hidden_layers": 12, "image_size": 224, "patch_size": 32,
                                 "hidden_act": "quick_gelu", "layer_norm_eps": 1e-05 }
            }
            """;
        var config = HuggingFaceClipConverter.ConfigFromJson(json);
        var expected = ClipPresets.Get("ViT-B-32-quickgelu");
        Assert.Equal(expected.Vision, config.Vision);
        Assert.Equal(expected.Text, config.Text);
        Assert.Equal(expected.EmbedDim, config.EmbedDim);
        Assert.True(config.QuickGelu);
        Assert.Throws<NotSupportedException>(() => HuggingFaceClipConverter.ConfigFromJson(
            """{ "text_config": { "hidden_act": "gelu" }, "vision_config": { "hidden_act": "quick_gelu" } }"""));
    }

    /// <summary>The test's own open_clip → Hugging Face mapping.</summary>
    private static Dictionary<string, Tensor> ToHuggingFace(IReadOnlyDictionary<string, Tensor> openClip)
    {
        var hf = new Dictionary<string, Tensor>();
        var block = new Regex(@"^(visual\.)?transformer\.resblocks\.(\d+)\.(.+)$");
        string[] qkv = ["q_proj", "k_proj", "v_proj"];
        foreach (var (key, value) in openClip)
        {
            var m = block.Match(key);
            if (m.Success)
            {
                string prefix = (m.Groups[1].Success ? "vision_model" : "text_model") + $".encoder.layers.{m.Groups[2].Value}.";
                string rest = m.Groups[3].Value;
                if (rest is "attn.in_proj_weight" or "attn.in_proj_bias")
                {
                    string kind = rest.EndsWith("weight") ? "weight" : "bias";
                    var parts = value.chunk(3, 0);
                    for (int i = 0; i < 3; i++) hf[$"{prefix}self_attn.{qkv[i]}.{kind}"] = parts[i].clone();
                    continue;
                }
                rest = rest.Replace("attn.out_proj.", "self_attn.out_proj.").Replace("ln_1.", "layer_norm1.")
                    .Replace("ln_2.", "layer_norm2.").Replace("mlp.c_fc.", "mlp.fc1.").Replace("mlp.c_proj.", "mlp.fc2.");
                hf[prefix + rest] = value.clone();
                continue;
            }
            string? target = key switch
            {
                "visual.class_embedding" => "vision_model.embeddings.class_embedding",
                "visual.conv1.weight" => "vision_model.embeddings.patch_embedding.weight",
                "visual.positional_embedding" => "vision_model.embeddings.position_embedding.weight",
                "visual.ln_pre.weight" => "vision_model.pre_layrnorm.weight",
                "visual.ln_pre.bias" => "vision_model.pre_layrnorm.bias",
                "visual.ln_post.weight" => "vision_model.post_layernorm.weight",
                "visual.ln_post.bias" => "vision_model.post_layernorm.bias",
                "token_embedding.weight" => "text_model.embeddings.token_embedding.weight",
                "positional_embedding" => "text_model.embeddings.position_embedding.weight",
                "ln_final.weight" => "text_model.final_layer_norm.weight",
                "ln_final.bias" => "text_model.final_layer_norm.bias",
                "logit_scale" => "logit_scale",
                _ => null,
            };
            if (target is not null) { hf[target] = value.clone(); continue; }
            if (key == "visual.proj") { hf["visual_projection.weight"] = value.t().contiguous(); continue; }
            if (key == "text_projection") { hf["text_projection.weight"] = value.t().contiguous(); continue; }
            throw new InvalidOperationException($"The test mapping does not know '{key}'.");
        }
        // transformers keeps position_ids buffers in older checkpoints: they must be ignored.
        hf["vision_model.embeddings.position_ids"] = arange(openClip["visual.positional_embedding"].shape[0]).unsqueeze(0);
        hf["text_model.embeddings.position_ids"] = arange(openClip["positional_embedding"].shape[0]).unsqueeze(0);
        return hf;
    }
}
