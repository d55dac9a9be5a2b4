using System;
using System.IO;
using Microsoft.ML.Clip.Imaging;
using Microsoft.ML.Clip.Tests.Modeling;
using Microsoft.ML.Clip.Tests.Tokenization;
using Microsoft.ML.Clip.Tokenization;
using Microsoft.ML.Clip.Scoring;
using Xunit;
using static TorchSharp.torch;

namespace Microsoft.ML.Clip.Tests.Family;

/// <summary>ClipModelBundle.FromHubFolder on open_clip hub folders of the family fixtures, and what it refuses, by name.</summary>
[Trait("Category", "Fixtures")]
public class FamilyHubFolderTests
{
    [FixtureTheory]
    [InlineData("siglip-tiny")]
    [InlineData("siglip2-tiny")]
    [InlineData("eva02-tiny")]
    public void HubFolderLoadsInOneCallWithItsPreprocessingTokenizerAndScoring(string name)
    {
        using var temp = new TempDirectory();
        var bundle = ClipModelBundle.FromHubFolder(FamilyHub.Create(name, temp.File(name)));
        using var fx = new FamilyFixture(name);
        Assert.Equal(fx.Config, bundle.Model.Config);

        using (no_grad())
        {
            bundle.Model.eval();
            using var image = bundle.Model.EncodeImage(fx.Pixels);
            using var text = bundle.Model.EncodeText(fx.Tokens);
            // The weights were read from the folder: open_clip's features, to the parity tests' tolerance (see FamilyParityTests).
            TensorAssert.Close(image, fx.IO["output.image_features"], 1e-4, 1e-4, "image features");
            TensorAssert.Close(text, fx.IO["output.text_features"], 1e-4, 1e-4, "text features");
        }

        bool siglip = name.StartsWith("siglip", StringComparison.Ordinal);
        Assert.Equal(siglip ? ClipResizeMode.Squash : ClipResizeMode.ShortestSideCenterCrop, bundle.Preprocessing.ResizeMode);
        Assert.Equal(siglip ? [0.5f, 0.5f, 0.5f] : ImagePreprocessingOptions.OpenAIClipMean, bundle.Preprocessing.Mean);
        Assert.Equal(32, bundle.Preprocessing.ImageSize);
        // The folder's tokenizer: SigLIP's SentencePiece, SigLIP 2's Gemma model, or CLIP's BPE files (text that every
        // cleaning leaves as it is, so the reference tokenizers' default cleaning does not matter).
        ClipTextTokenizer expected = name switch
        {
            "siglip-tiny" => SigLipTokenizer.FromSpieceModel(SigLipTokenizerTests.SpieceModel),
            "siglip2-tiny" => SigLipTokenizer.FromGemmaModel(Path.Combine(SigLipTokenizerTests.GemmaLikeFolder, "tokenizer.model")),
            _ => FamilyHub.Tokenizer.Value,
        };
        Assert.Equal(expected.Kind, bundle.Tokenizer.Kind);
        Assert.Equal(siglip ? ClipTextCleaning.Canonicalize : ClipTextCleaning.Lower, bundle.Tokenizer.Cleaning);
        Assert.Equal(expected.Encode("a red picture", 16), bundle.Tokenizer.Encode("a red picture", 16));
        // SigLIP's models carry a logit bias and score with the sigmoid; EVA02-CLIP with the softmax over cosines.
        Assert.Equal(siglip ? ClipScoring.SigmoidWithBias : ClipScoring.GlobalCosine, bundle.Scoring);
    }

    [FixtureTheory]
    [InlineData("pickle", "open_clip_pytorch_model.bin")]
    [InlineData("no-tokenizer", "spiece.model")]
    [InlineData("tokenizer-json", "tokenizer.json")]
    [InlineData("interpolation", "preprocess_cfg.interpolation")]
    [InlineData("resize", "preprocess_cfg.resize_mode")]
    [InlineData("timm-name", "'vision_cfg.timm_model_name'")]
    public void WhatTheFolderAsksAndThisLibraryLacksIsNamed(string problem, string named)
    {
        using var temp = new TempDirectory();
        string folder = FamilyHub.Create("siglip-tiny", temp.File("hub"),
            editModelConfig: problem == "timm-name" ? m => m["vision_cfg"]!["timm_model_name"] = "vit_huge_patch14_unknown" : null,
            preprocess: problem switch
            {
                "interpolation" => """{"mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5], "interpolation": "nearest"}""",
                "resize" => """{"resize_mode": "longest"}""",
                _ => null,
            });
        if (problem == "pickle") File.Move(Path.Combine(folder, "open_clip_model.safetensors"), Path.Combine(folder, "open_clip_pytorch_model.bin"));
        if (problem is "no-tokenizer" or "tokenizer-json") File.Delete(Path.Combine(folder, "spiece.model"));
        if (problem == "tokenizer-json") File.WriteAllText(Path.Combine(folder, "tokenizer.json"), "{}");

        var ex = Assert.ThrowsAny<Exception>(() => ClipModelBundle.FromHubFolder(folder));
        Assert.Contains(named, ex.Message);
        Assert.IsType(problem switch
        {
            "pickle" or "no-tokenizer" or "tokenizer-json" => typeof(FileNotFoundException),
            "interpolation" or "resize" => typeof(InvalidDataException),
            _ => typeof(NotSupportedException),
        }, ex);
        if (problem is "interpolation" or "resize" or "timm-name")
            Assert.Contains("open_clip_config.json", ex.Message);
    }
}
