using System;
using System.IO;
using System.Linq;
using System.Text.Json.Nodes;
using Microsoft.ML.Clip.Tests.Pipeline;
using Microsoft.ML.Clip.Tests.Tokenization;
using Microsoft.ML.Clip.Tokenization;

namespace Microsoft.ML.Clip.Tests.Family;

/// <summary>
/// open_clip hub folders made from the family fixtures in a temporary folder: open_clip_config.json (the fixture's config
/// as model_cfg, plus a preprocess_cfg), the fixture weights as open_clip_model.safetensors, and the tokenizer files the
/// released models ship (the tiny text towers have a vocabulary of 1,000): SigLIP a SentencePiece <c>spiece.model</c>
/// (family/siglip-tokenizer, 256 pieces), SigLIP 2 a Gemma-style <c>tokenizer.model</c> (TestData/tokenizers/gemma-like,
/// 600 pieces), each with open_clip's <c>hf_tokenizer_name</c> and <c>clean</c> setting as in the released configs; EVA02-CLIP
/// CLIP BPE files of a tokenizer learnt from the colour captions.
/// </summary>
internal static class FamilyHub
{
    /// <summary>A BPE tokenizer of 600 tokens learnt from the colour captions and prompts (fits the fixtures' 1,000 ids).</summary>
    public static readonly Lazy<ClipTokenizer> Tokenizer = new(() => ClipBpeTrainer.Train(
        ColourPairs.Rows(64).Select(r => (string?)r.Text).Concat(ColourPairs.Colours.Select(c => (string?)$"a photo of {c.Name}")),
        new ClipBpeTrainerOptions { VocabularySize = 600 }));

    /// <summary>SigLIP's preprocessing as open_clip writes it into the hub file.</summary>
    public const string SigLipPreprocess = """{"mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5], "interpolation": "bicubic", "resize_mode": "squash"}""";

    /// <summary>EVA02-CLIP's (OpenAI CLIP's mean and standard deviation, shortest-side resize and centre crop).</summary>
    public const string OpenAIPreprocess = """{"mean": [0.48145466, 0.4578275, 0.40821073], "std": [0.26862954, 0.26130258, 0.27577711], "interpolation": "bicubic", "resize_mode": "shortest"}""";

    /// <summary>Writes the hub folder of fixture <paramref name="name"/> into <paramref name="folder"/> and returns it.</summary>
    /// <param name="name">eva02-tiny, siglip-tiny or siglip2-tiny.</param>
    /// <param name="folder">The folder to create.</param>
    /// <param name="editModelConfig">Changes to model_cfg (tests of refusals).</param>
    /// <param name="preprocess">The preprocess_cfg JSON; null: SigLIP's for SigLIP fixtures, OpenAI's otherwise.</param>
    public static string Create(string name, string folder, Action<JsonObject>? editModelConfig = null, string? preprocess = null)
    {
        FamilyFixture.RegisterNames();
        Directory.CreateDirectory(folder);
        string source = Fixtures.Path("family", name);
        var model = JsonNode.Parse(File.ReadAllText(Path.Combine(source, "config.json")))!.AsObject();
        string? tokenizerModel = name switch
        {
            "siglip-tiny" => SigLipTokenizerTests.SpieceModel,
            "siglip2-tiny" => Path.Combine(SigLipTokenizerTests.GemmaLikeFolder, "tokenizer.model"),
            _ => null,
        };
        if (tokenizerModel is not null)
        {
            model["text_cfg"]!["hf_tokenizer_name"] = name == "siglip-tiny" ? "timm/ViT-B-16-SigLIP" : "timm/ViT-B-16-SigLIP2";
            model["text_cfg"]!["tokenizer_kwargs"] = new JsonObject { ["clean"] = "canonicalize" };
        }
        editModelConfig?.Invoke(model);
        var hub = new JsonObject
        {
            ["model_cfg"] = model,
            ["preprocess_cfg"] = JsonNode.Parse(preprocess ?? (name.StartsWith("siglip", StringComparison.Ordinal) ? SigLipPreprocess : OpenAIPreprocess)),
        };
        File.WriteAllText(Path.Combine(folder, "open_clip_config.json"), hub.ToJsonString());
        File.Copy(Path.Combine(source, "weights.safetensors"), Path.Combine(folder, "open_clip_model.safetensors"));
        if (tokenizerModel is not null) File.Copy(tokenizerModel, Path.Combine(folder, Path.GetFileName(tokenizerModel)));
        else Tokenizer.Value.Save(Path.Combine(folder, "vocab.json"), Path.Combine(folder, "merges.txt"));
        return folder;
    }
}
