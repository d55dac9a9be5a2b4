using System;
using System.IO;
using System.Linq;
using Microsoft.ML.Clip.Modeling;
using Microsoft.ML.Clip.Onnx;
using Microsoft.ML.Clip.Tests.Modeling;
using Microsoft.ML.Clip.Tokenization;
using Microsoft.ML.Clip.Scoring;
using Xunit;
using static TorchSharp.torch;

namespace Microsoft.ML.Clip.Tests.Onnx;

/// <summary>ClipModelBundle.ExportOnnx: the folder, the manifest and metadata, atomicity and bad input.</summary>
public class OnnxExportFolderTests
{
    private static ClipModelBundle Bundle(ClipConfig? config = null, ClipScoring? scoring = null)
    {
        manual_seed(5);
        var tokenizer = ClipBpeTrainer.Train(["a red square", "a blue circle"], new ClipBpeTrainerOptions { VocabularySize = 600 });
        var architecture = config ?? TinyConfigs.Micro;
        var model = new ClipModel(architecture with { Text = architecture.Text with { VocabSize = tokenizer.VocabularySize } });
        return scoring is null ? new ClipModelBundle(model, tokenizer) : new ClipModelBundle(model, tokenizer) { Scoring = scoring };
    }

    [Fact]
    public void FolderHoldsEncodersTokenizerAndAManifestThatVerifies()
    {
        var bundle = Bundle();
        using var temp = new TempDirectory();
        string folder = temp.File("export");
        var manifest = bundle.ExportOnnx(folder);

        Assert.Equal(new[] { "clip-onnx.json", "image_encoder.onnx", "merges.txt", "text_encoder.onnx", "vocab.json" },
            Directory.GetFiles(folder).Select(Path.GetFileName).Order().ToArray());
        Assert.Equal(new[] { folder }, Directory.GetDirectories(temp.Path)); // the staging folder is gone
        var read = ClipOnnxManifest.Load(folder);
        Assert.Equal(bundle.EmbeddingSize, read.EmbeddingSize);
        Assert.Equal(bundle.ContextLength, read.ContextLength);
        Assert.Equal(bundle.Preprocessing.ImageSize, read.ImageSize);
        Assert.Equal(bundle.Preprocessing.Mean, read.Mean);
        Assert.Equal("ShortestSideCenterCrop", read.ResizeMode);
        Assert.Equal(bundle.Tokenizer.EndOfTextId, read.EndOfTextId);
        Assert.True(read.Normalized);
        Assert.Equal("float32", read.Precision);
        Assert.Equal(Math.Exp(bundle.Model.LogitScale.item<float>()), read.LogitScale, 1e-9);
        Assert.Null(read.LogitBias);
        Assert.Equal(manifest.Sha256, read.Sha256);

        // The tokenizer written beside the encoders reads back to the same ids.
        var tokenizer = ClipTokenizer.FromHuggingFace(Path.Combine(folder, read.Vocabulary!), Path.Combine(folder, read.Merges!));
        Assert.Equal(["vocab.json", "merges.txt"], read.TokenizerFiles!);
        Assert.Equal(ClipTokenizer.KindName, read.Tokenizer);
        Assert.Equal(0, read.PadId);
        Assert.IsType<ClipTokenizer>(read.CreateTokenizer(folder));
        Assert.Equal(bundle.Tokenizer.Encode("a red circle", read.ContextLength), tokenizer.Encode("a red circle", read.ContextLength));

        // Metadata: the same facts inside each model, for a deployment holding only the .onnx file.
        using var session = OrtRunner.Open(Path.Combine(folder, read.ImageEncoder));
        var metadata = session.ModelMetadata.CustomMetadataMap;
        Assert.Equal(read.EmbeddingSize.ToString(), metadata["clip.embedding_size"]);
        Assert.Equal(read.LogitScale, double.Parse(metadata["clip.logit_scale"], System.Globalization.CultureInfo.InvariantCulture));
        Assert.Equal(new long[] { -1, 3, read.ImageSize, read.ImageSize }, session.InputMetadata["pixel_values"].Dimensions.Select(d => (long)d));
    }

    [Fact]
    public void SigLipBiasIsRecordedAndExportedEmbeddingsAreNormalised()
    {
        var bundle = Bundle(TinyConfigs.Micro with { InitLogitBias = -10.0 });
        using var temp = new TempDirectory();
        var manifest = bundle.ExportOnnx(temp.File("siglip"));
        Assert.Equal("sigmoid-with-bias", manifest.Scoring);
        Assert.Equal(-10.0, manifest.LogitBias!.Value, 1e-6);
        using var session = OrtRunner.Open(Path.Combine(temp.File("siglip"), manifest.TextEncoder));
        Assert.Equal(-10.0, double.Parse(session.ModelMetadata.CustomMetadataMap["clip.logit_bias"], System.Globalization.CultureInfo.InvariantCulture), 1e-6);
        using var tokens = OrtRunner.RandomTokens(bundle.Model.Config, 5, seed: 1);
        using var embeds = OrtRunner.Run(session, "input_ids", tokens);
        using var noGrad = no_grad();
        using var expected = bundle.Model.EncodeText(tokens, normalize: true);
        // Normalised embeddings, as the library's stages give them: same fp32 tolerance as the parity tests.
        TensorAssert.Close(embeds, expected, 1e-4, 1e-4, "normalised text embeddings");
    }

    [Fact]
    public void FlipPatchDropoutIsLeftOutAsInEvalMode()
    {
        // FLIP trains with patch dropout in the config; inference (eval mode) keeps every patch, and so does the export.
        var bundle = Bundle(TinyConfigs.Micro with { Vision = TinyConfigs.Micro.Vision with { PatchDropout = 0.5 } });
        bundle.Model.eval();
        using var temp = new TempDirectory();
        var manifest = bundle.ExportOnnx(temp.File("flip"));
        using var session = OrtRunner.Open(Path.Combine(temp.File("flip"), manifest.ImageEncoder));
        manual_seed(6);
        using var pixels = randn(7, 3, 16, 16);
        using var noGrad = no_grad();
        using var expected = bundle.Model.EncodeImage(pixels, normalize: true);
        using var actual = OrtRunner.Run(session, "pixel_values", pixels);
        // fp32 parity tolerance of OnnxExportParityTests; half the patches dropped would change the embeddings by ~1e-1.
        TensorAssert.Close(actual, expected, 1e-4, 1e-4, "image embeddings of a model with patch dropout");
    }

    [Fact]
    public void TokenWiseScoringIsRefusedAndNothingIsWritten()
    {
        var bundle = Bundle(scoring: ClipScoring.TokenWise);
        using var temp = new TempDirectory();
        var error = Assert.Throws<NotSupportedException>(() => bundle.ExportOnnx(temp.File("filip")));
        Assert.Contains("token-wise (FILIP)", error.Message);
        Assert.Empty(Directory.GetFileSystemEntries(temp.Path));
    }

    [Fact]
    public void UnwritablePathGivesAClearErrorAndNoPartialFiles()
    {
        var bundle = Bundle();
        using var temp = new TempDirectory();
        File.WriteAllText(temp.File("a-file"), "not a folder");
        // A folder below a regular file cannot be created, even by root (permissions would not stop root).
        var error = Assert.Throws<IOException>(() => bundle.ExportOnnx(Path.Combine(temp.File("a-file"), "export")));
        Assert.Contains("Cannot write the ONNX export", error.Message);
        Assert.Equal(new[] { temp.File("a-file") }, Directory.GetFileSystemEntries(temp.Path));
    }

    [Fact]
    public void DamagedOrMissingFilesAreFoundByTheManifest()
    {
        var bundle = Bundle();
        using var temp = new TempDirectory();
        string folder = temp.File("export");
        var manifest = bundle.ExportOnnx(folder);
        string image = Path.Combine(folder, manifest.ImageEncoder);
        var bytes = File.ReadAllBytes(image);
        File.WriteAllBytes(image, bytes.AsSpan(0, bytes.Length / 2).ToArray()); // truncated copy
        var damaged = Assert.Throws<InvalidDataException>(() => ClipOnnxManifest.Load(folder));
        Assert.Contains("image_encoder.onnx' is damaged", damaged.Message);
        // ONNX Runtime refuses the truncated file too (its own error).
        Assert.ThrowsAny<Microsoft.ML.OnnxRuntime.OnnxRuntimeException>(() => OrtRunner.Open(image));

        File.Delete(Path.Combine(folder, manifest.Merges!));
        File.WriteAllBytes(image, bytes);
        var missing = Assert.Throws<FileNotFoundException>(() => ClipOnnxManifest.Load(folder));
        Assert.Contains("lacks 'merges.txt'", missing.Message);
    }

    [Fact]
    public void ExportingAgainReplacesTheFilesOfAnEarlierExport()
    {
        var bundle = Bundle();
        using var temp = new TempDirectory();
        string folder = temp.File("export");
        bundle.ExportOnnx(folder);
        var half = bundle.ExportOnnx(folder, new ClipOnnxExportOptions { Precision = ClipOnnxPrecision.Float16, NormalizeEmbeddings = false });
        var read = ClipOnnxManifest.Load(folder);
        Assert.Equal("float16", read.Precision);
        Assert.False(read.Normalized);
        Assert.Equal(half.Sha256, read.Sha256);
        Assert.Single(Directory.GetDirectories(temp.Path));
    }
}
