using System.IO;
using System.Linq;
using Microsoft.ML.Clip.Imaging;
using Microsoft.ML.Clip.Modeling;
using Microsoft.ML.Clip.Onnx;
using Microsoft.ML.Clip.Tests.Modeling;
using Microsoft.ML.Clip.Tokenization;
using Microsoft.ML.Clip.Transforms;
using Xunit;
using static TorchSharp.torch;

namespace Microsoft.ML.Clip.Tests.Imaging;

/// <summary>The bilinear filter is saved with the model (zip and ONNX manifest) and read back.</summary>
public class InterpolationPersistenceTests
{
    private sealed class Row
    {
        public string Text { get; set; } = "";
    }

    private static ClipModelBundle Bundle(ClipInterpolation interpolation)
    {
        manual_seed(3);
        var tokenizer = ClipBpeTrainer.Train(["a red square", "a blue circle"], new ClipBpeTrainerOptions { VocabularySize = 600 });
        var config = TinyConfigs.Micro with { Text = TinyConfigs.Micro.Text with { VocabSize = tokenizer.VocabularySize } };
        var preprocessing = new ImagePreprocessingOptions(16) { Interpolation = interpolation, ResizeMode = ClipResizeMode.Squash, Mean = [0, 0, 0], Std = [1, 1, 1] };
        return new ClipModelBundle(new ClipModel(config), tokenizer, preprocessing);
    }

    [Theory]
    [InlineData(ClipInterpolation.Bilinear)]
    [InlineData(ClipInterpolation.Bicubic)]
    public void ModelZipKeepsTheInterpolation(ClipInterpolation interpolation)
    {
        var bundle = Bundle(interpolation);
        var mlContext = new MLContext(seed: 1);
        var data = mlContext.Data.LoadFromEnumerable(new[] { new Row { Text = "a red square" } });
        var model = mlContext.Transforms.ClipTextEmbedding(bundle).Fit(data);
        using var temp = new TempDirectory();
        mlContext.Model.Save(model, data.Schema, temp.File("model.zip"));
        var reloaded = (ClipEmbeddingTransformer)new MLContext(seed: 1).Model.Load(temp.File("model.zip"), out _);
        var preprocessing = reloaded.Bundle.Preprocessing;
        Assert.Equal((interpolation, ClipResizeMode.Squash, 16), (preprocessing.Interpolation, preprocessing.ResizeMode, preprocessing.ImageSize));
        Assert.Equal([0f, 0f, 0f], preprocessing.Mean);
    }

    [Fact]
    public void OnnxManifestNamesTheInterpolation()
    {
        var bundle = Bundle(ClipInterpolation.Bilinear);
        using var temp = new TempDirectory();
        var manifest = bundle.ExportOnnx(temp.File("export"));
        Assert.Equal("bilinear-antialiased", manifest.Interpolation);
        var read = ClipOnnxManifest.Load(temp.File("export")).CreatePreprocessingOptions();
        Assert.Equal((ClipInterpolation.Bilinear, ClipResizeMode.Squash), (read.Interpolation, read.ResizeMode));
        Assert.Equal("bicubic-antialiased", ClipOnnxManifest.InterpolationName(ClipInterpolation.Bicubic));
        var unknown = new ClipOnnxManifest { ImageSize = 16, Mean = [0, 0, 0], Std = [1, 1, 1], ResizeMode = "Squash", Interpolation = "lanczos-antialiased" };
        Assert.Contains("interpolation 'lanczos-antialiased' is unknown", Assert.Throws<InvalidDataException>(() => unknown.CreatePreprocessingOptions()).Message);
    }

    [Fact]
    public void BilinearAndBicubicDifferOnARealResize()
    {
        // Guards against the filter being ignored: the same image, squashed 50×37 → 24, differs between the filters.
        var pixels = SyntheticImages.Rgb(50, 37);
        float[] Run(ClipInterpolation i)
        {
            var p = new ClipImagePreprocessor(new ImagePreprocessingOptions(24) { Interpolation = i, ResizeMode = ClipResizeMode.Squash });
            var output = new float[p.OutputLength];
            p.PreprocessInto(pixels, 50, 37, 150, RawPixelFormat.Rgb24, output);
            return output;
        }
        Assert.True(Run(ClipInterpolation.Bilinear).Zip(Run(ClipInterpolation.Bicubic)).Count(p => p.First != p.Second) > 100);
    }
}
