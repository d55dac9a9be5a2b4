using System;
using System.IO;
using System.Linq;
using Microsoft.ML.Clip.Tokenization;
using Xunit;

namespace Microsoft.ML.Clip.Tests.Tokenization;

/// <summary>ClipTextTokenizer.FromHubFolder: the tokenizer chosen from an open_clip hub folder's files and config.</summary>
public class HubTokenizerFolderTests
{
    // What timm's SigLIP hub folders say in open_clip_config.json (open_clip's ViT-B-16-SigLIP.json text_cfg).
    private const string SigLipConfig = """
        {"model_cfg": {"embed_dim": 768, "text_cfg": {"context_length": 64, "vocab_size": 32000,
         "hf_tokenizer_name": "timm/ViT-B-16-SigLIP", "tokenizer_kwargs": {"clean": "canonicalize"}}},
         "preprocess_cfg": {"mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5], "interpolation": "bicubic", "resize_mode": "squash"}}
        """;

    [Fact]
    public void TokenizerModelMakesSigLip2sGemmaTokenizer()
    {
        using var temp = new TempDirectory();
        File.Copy(SigLipTokenizerTests.GemmaLikeModel, temp.File("tokenizer.model"));
        File.WriteAllText(temp.File("open_clip_config.json"), SigLipConfig.Replace("ViT-B-16-SigLIP", "ViT-B-16-SigLIP2"));
        File.WriteAllText(temp.File("tokenizer.json"), "{}"); // present in real folders; the .model file is what is read
        var tokenizer = Assert.IsType<SigLipTokenizer>(ClipTextTokenizer.FromHubFolder(temp.Path));
        var direct = SigLipTokenizer.FromGemmaModel(SigLipTokenizerTests.GemmaLikeModel);
        Assert.Equal((1, 0, ClipTextCleaning.Canonicalize), (tokenizer.EndOfTextId, tokenizer.PadId, tokenizer.Cleaning));
        Assert.Equal(direct.Encode("A photo of a cat.", 16), tokenizer.Encode("A photo of a cat.", 16));
    }

    [Fact]
    public void SpecialTokensMapDecidesTheEndAndPadTokens()
    {
        using var temp = new TempDirectory();
        File.Copy(SigLipTokenizerTests.GemmaLikeModel, temp.File("tokenizer.model"));
        // Both spellings Hugging Face writes: a plain string and an object with "content".
        File.WriteAllText(temp.File("special_tokens_map.json"), """{"eos_token": {"content": "<eos>", "lstrip": false}, "pad_token": "<eos>", "unk_token": "<unk>"}""");
        var tokenizer = ClipTextTokenizer.FromHubFolder(temp.Path);
        Assert.Equal((1, 1), (tokenizer.EndOfTextId, tokenizer.PadId));
        // Without a config open_clip's own SigLIP tokenizer cleans with canonicalize.
        Assert.Equal(ClipTextCleaning.Canonicalize, tokenizer.Cleaning);

        File.WriteAllText(temp.File("special_tokens_map.json"), """{"pad_token": "<nothing>"}""");
        var error = Assert.Throws<InvalidDataException>(() => ClipTextTokenizer.FromHubFolder(temp.Path));
        Assert.Contains("pad_token '<nothing>'", error.Message);
    }

    [Trait("Category", "Fixtures")]
    [FixtureFact]
    public void SpieceModelMakesSigLipsTokenizer()
    {
        using var temp = new TempDirectory();
        File.Copy(SigLipTokenizerTests.SpieceModel, temp.File("spiece.model"));
        File.WriteAllText(temp.File("open_clip_config.json"), SigLipConfig);
        var tokenizer = Assert.IsType<SigLipTokenizer>(ClipTextTokenizer.FromHubFolder(temp.Path));
        Assert.Equal((1, 1, ClipTextCleaning.Canonicalize), (tokenizer.EndOfTextId, tokenizer.PadId, tokenizer.Cleaning));
        Assert.Equal(SigLipTokenizer.FromSpieceModel(SigLipTokenizerTests.SpieceModel).Encode("Red_green star!", 10), tokenizer.Encode("Red_green star!", 10));

        // open_clip's HFTokenizer cleans with 'whitespace' when the config names a tokenizer but no cleaning.
        File.WriteAllText(temp.File("open_clip_config.json"), """{"model_cfg": {"text_cfg": {"hf_tokenizer_name": "timm/x"}}}""");
        Assert.Equal(ClipTextCleaning.Whitespace, ClipTextTokenizer.FromHubFolder(temp.Path).Cleaning);
    }

    [Trait("Category", "Fixtures")]
    [FixtureFact]
    public void HuggingFaceClipFilesMakeTheBpeTokenizer()
    {
        using var temp = new TempDirectory();
        TokenizerFixtures.OpenAI.Save(temp.File("vocab.json"), temp.File("merges.txt"));
        var tokenizer = Assert.IsType<ClipTokenizer>(ClipTextTokenizer.FromHubFolder(temp.Path));
        Assert.Equal(TokenizerFixtures.Cases[0].Ids, tokenizer.Encode(TokenizerFixtures.Cases[0].Text, 77));

        File.WriteAllText(temp.File("open_clip_config.json"), """{"model_cfg": {"text_cfg": {"tokenizer_kwargs": {"clean": "canonicalize"}}}}""");
        var error = Assert.Throws<InvalidDataException>(() => ClipTextTokenizer.FromHubFolder(temp.Path));
        Assert.Contains("model_cfg.text_cfg.tokenizer_kwargs.clean is 'canonicalize'", error.Message);
    }

    [Fact]
    public void WhatIsNotImplementedIsRefusedByFieldName()
    {
        using var temp = new TempDirectory();
        File.Copy(SigLipTokenizerTests.GemmaLikeModel, temp.File("tokenizer.model"));
        File.WriteAllText(temp.File("open_clip_config.json"), """{"model_cfg": {"text_cfg": {"tokenizer_kwargs": {"clean": "canonicalize", "strip_sep_token": true}}}}""");
        Assert.Contains("model_cfg.text_cfg.tokenizer_kwargs.strip_sep_token is not implemented",
            Assert.Throws<InvalidDataException>(() => ClipTextTokenizer.FromHubFolder(temp.Path)).Message);
        File.WriteAllText(temp.File("open_clip_config.json"), """{"model_cfg": {"text_cfg": {"tokenizer_kwargs": {"clean": "nfc"}}}}""");
        Assert.Contains("clean is 'nfc'", Assert.Throws<InvalidDataException>(() => ClipTextTokenizer.FromHubFolder(temp.Path)).Message);
    }

    [Fact]
    public void AFolderWithoutReadableTokenizerFilesSaysWhatIsMissing()
    {
        using var temp = new TempDirectory();
        File.WriteAllText(temp.File("tokenizer.json"), "{}");
        File.WriteAllText(temp.File("open_clip_config.json"), SigLipConfig);
        var error = Assert.Throws<FileNotFoundException>(() => ClipTextTokenizer.FromHubFolder(temp.Path));
        Assert.Contains("spiece.model (SigLIP), tokenizer.model (SigLIP 2, Gemma)", error.Message);
        Assert.Contains("found open_clip_config.json, tokenizer.json", error.Message);
        Assert.Contains("tokenizer.json, Hugging Face's format, which is not read here", error.Message);

        File.Delete(temp.File("tokenizer.json"));
        Assert.Contains("hf_tokenizer_name", Assert.Throws<FileNotFoundException>(() => ClipTextTokenizer.FromHubFolder(temp.Path)).Message);
        Assert.Throws<DirectoryNotFoundException>(() => ClipTextTokenizer.FromHubFolder(temp.File("absent")));
    }
}
