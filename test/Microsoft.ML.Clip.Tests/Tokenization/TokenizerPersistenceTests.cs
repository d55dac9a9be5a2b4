using System.IO;
using System.Linq;
using Microsoft.ML.Clip.Modeling;
using Microsoft.ML.Clip.Onnx;
using Microsoft.ML.Clip.Tests.Modeling;
using Microsoft.ML.Clip.Tokenization;
using Microsoft.ML.Clip.Transforms;
using Microsoft.ML.Data;
using Xunit;
using static TorchSharp.torch;

namespace Microsoft.ML.Clip.Tests.Tokenization;

/// <summary>A SentencePiece tokenizer travels with the model: ML.NET model zips, ONNX export folders, WiSE-FT checks.</summary>
public class TokenizerPersistenceTests
{
    private sealed class Caption
    {
        public string Text { get; set; } = "";
    }

    private static ClipModelBundle GemmaBundle()
    {
        manual_seed(11);
        var tokenizer = SigLipTokenizer.FromGemmaModel(SigLipTokenizerTests.GemmaLikeModel);
        var config = TinyConfigs.Micro with { Text = TinyConfigs.Micro.Text with { VocabSize = tokenizer.VocabularySize }, InitLogitBias = -10.0 };
        return new ClipModelBundle(new ClipModel(config), tokenizer);
    }

    [Fact]
    public void ModelZipKeepsTheSentencePieceTokenizer()
    {
        var bundle = GemmaBundle();
        var mlContext = new MLContext(seed: 1);
        var data = mlContext.Data.LoadFromEnumerable(new[] { "A photo of a cat.", "red_green star", "" }.Select(t => new Caption { Text = t }));
        var model = mlContext.Transforms.ClipTextEmbedding(bundle).Fit(data);
        using var temp = new TempDirectory();
        mlContext.Model.Save(model, data.Schema, temp.File("siglip.zip"));

        var reloaded = (ClipEmbeddingTransformer)new MLContext(seed: 1).Model.Load(temp.File("siglip.zip"), out _);
        var tokenizer = Assert.IsType<SigLipTokenizer>(reloaded.Bundle.Tokenizer);
        Assert.Equal((1, 0, (int?)null, ClipTextCleaning.Canonicalize), (tokenizer.EndOfTextId, tokenizer.PadId, tokenizer.StartOfTextId, tokenizer.Cleaning));
        Assert.True(tokenizer.SameAs(bundle.Tokenizer));
        // The same weights and ids through the same kernels: the embeddings are the same numbers.
        Assert.Equal(model.Transform(data).GetColumn<float[]>("TextEmbedding").ToArray(), reloaded.Transform(data).GetColumn<float[]>("TextEmbedding").ToArray());
    }

    [Fact]
    public void TokenIdColumnsArePaddedWithThePadId()
    {
        // Ids given by the caller are padded to the context length (8) with the tokenizer's pad id, so a row given as
        // ids embeds exactly like the same caption given as text.
        var bundle = GemmaBundle();
        var ids = bundle.Tokenizer.Encode("a photo of a cat", 8);
        int length = System.Array.IndexOf(ids, bundle.Tokenizer.EndOfTextId) + 1;
        var mlContext = new MLContext(seed: 1);
        var asText = mlContext.Data.LoadFromEnumerable(new[] { new Caption { Text = "a photo of a cat" } });
        var asIds = mlContext.Data.LoadFromEnumerable(new[] { new IdRow { Text = ids[..length].Select(i => (long)i).ToArray() } });
        var embedText = mlContext.Transforms.ClipTextEmbedding(bundle).Fit(asText).Transform(asText).GetColumn<float[]>("TextEmbedding").Single();
        var embedIds = mlContext.Transforms.ClipTextEmbedding(bundle).Fit(asIds).Transform(asIds).GetColumn<float[]>("TextEmbedding").Single();
        Assert.Equal(embedText, embedIds);
    }

    private sealed class IdRow
    {
        [VectorType] public long[] Text { get; set; } = [];
    }

    [Fact]
    public void OnnxExportCarriesTheSentencePieceModel()
    {
        var bundle = GemmaBundle();
        using var temp = new TempDirectory();
        string folder = temp.File("export");
        bundle.ExportOnnx(folder);
        var manifest = ClipOnnxManifest.Load(folder);
        Assert.Equal(["clip-onnx.json", "image_encoder.onnx", "sentencepiece.model", "text_encoder.onnx"],
            Directory.GetFiles(folder).Select(f => Path.GetFileName(f)!).Order().ToArray());
        Assert.Equal((SigLipTokenizer.KindName, ClipTextCleaning.Canonicalize, (int?)null, 1, 0), (manifest.Tokenizer, manifest.TextCleaning, manifest.StartOfTextId, manifest.EndOfTextId, manifest.PadId));
        Assert.Equal(["sentencepiece.model"], manifest.TokenizerFiles!);
        Assert.Null(manifest.Vocabulary);
        Assert.Contains("\"text_cleaning\": \"Canonicalize\"", File.ReadAllText(Path.Combine(folder, ClipOnnxManifest.FileName)));
        var tokenizer = manifest.CreateTokenizer(folder);
        Assert.True(tokenizer.SameAs(bundle.Tokenizer));
        Assert.Equal(bundle.Tokenizer.Encode("Two dogs_on a tree?", 8), tokenizer.Encode("Two dogs_on a tree?", 8));

        File.WriteAllBytes(Path.Combine(folder, "sentencepiece.model"), [1, 2, 3]);
        Assert.Contains("sentencepiece.model' is damaged", Assert.Throws<InvalidDataException>(() => ClipOnnxManifest.Load(folder)).Message);
    }

    [Fact]
    public void ManifestsWrittenBeforeTokenizerKindsStillLoad()
    {
        // An export of this version without the fields earlier versions did not write: what those left on disk.
        manual_seed(2);
        var bpe = ClipBpeTrainer.Train(["a red square", "a blue circle"], new ClipBpeTrainerOptions { VocabularySize = 600 });
        var config = TinyConfigs.Micro with { Text = TinyConfigs.Micro.Text with { VocabSize = bpe.VocabularySize } };
        using var temp = new TempDirectory();
        string folder = temp.File("export");
        new ClipModelBundle(new ClipModel(config), bpe).ExportOnnx(folder);
        string path = Path.Combine(folder, ClipOnnxManifest.FileName);
        var json = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(path))!.AsObject();
        foreach (var field in new[] { "tokenizer", "text_cleaning", "tokenizer_files", "pad_id" })
            Assert.True(json.Remove(field), field);
        File.WriteAllText(path, json.ToJsonString());

        var manifest = ClipOnnxManifest.Load(folder);
        var tokenizer = Assert.IsType<ClipTokenizer>(manifest.CreateTokenizer(folder));
        Assert.Equal(bpe.Encode("a red square", 8), tokenizer.Encode("a red square", 8));
    }

    [Fact]
    public void BundlesWithDifferentTokenizersDoNotInterpolate()
    {
        var gemma = GemmaBundle();
        var bpe = ClipBpeTrainer.Train(["a red square", "a blue circle"], new ClipBpeTrainerOptions { VocabularySize = 600 });
        var other = new ClipModelBundle(gemma.Model.Copy(), bpe);
        Assert.Contains("different tokenizers", Assert.Throws<System.ArgumentException>(() => ClipModelBundle.Interpolate(gemma, other, 0.5)).Message);
        var same = new ClipModelBundle(gemma.Model.Copy(), SigLipTokenizer.FromGemmaModel(SigLipTokenizerTests.GemmaLikeModel));
        Assert.Same(same.Tokenizer, ClipModelBundle.Interpolate(gemma, same, 0.5).Tokenizer);
    }
}
