using System;
using System.IO;
using System.Linq;
using System.Reflection;
using System.Reflection.Metadata;
using System.Reflection.PortableExecutable;
using System.Threading.Tasks;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.ML.Clip.Onnx;
using Microsoft.ML.Clip.OnnxRuntime;
using Microsoft.ML.Clip.Tokenization;
using Microsoft.ML.OnnxRuntime;
using Xunit;
using static Microsoft.ML.Clip.Tests.EmbeddingGenerators.GeneratorTestData;
using static TorchSharp.torch;

namespace Microsoft.ML.Clip.Tests.EmbeddingGenerators;

/// <summary>The ONNX Runtime embedding generators (Microsoft.ML.Clip.OnnxRuntime) over an export folder, against the TorchSharp stages.</summary>
public class ClipOnnxEmbeddingGeneratorTests
{
    // ONNX Runtime's kernels against libtorch's in fp32, normalized entries of about 0.25: the export parity tests'
    // tolerance (measured ≤ 2.4e-6 on the tiny fixtures). A wrong preprocessing or tokenization moves entries by 1e-2.
    private const double OrtAtol = 1e-4, OrtRtol = 1e-4;

    [Fact]
    public async Task EmbeddingsAgreeWithTheStages()
    {
        var examples = Examples(11);
        using var bundle = Bundle(examples);
        var (stageImages, stageTexts) = StageEmbeddings(bundle, examples);
        using var temp = new TempDirectory();
        string folder = temp.File("micro-export");
        bundle.ExportOnnx(folder);

        using var images = new ClipOnnxImageEmbeddingGenerator(folder, new ClipOnnxEmbeddingGeneratorOptions { BatchSize = 4 });
        using var texts = new ClipOnnxTextEmbeddingGenerator(folder, new ClipOnnxEmbeddingGeneratorOptions { BatchSize = 4 });
        var imageVectors = Vectors(await images.GenerateAsync(Images(examples)));
        var textVectors = Vectors(await texts.GenerateAsync(Captions(examples)));
        for (int i = 0; i < examples.Count; i++)
        {
            Approx.Equal(stageImages[i], imageVectors[i], OrtAtol, OrtRtol, $"image {i}");
            Approx.Equal(stageTexts[i], textVectors[i], OrtAtol, OrtRtol, $"text {i}");
        }
        Assert.True(Approx.MaxDiff(textVectors[0], textVectors[1]) > 1e-3);

        var metadata = texts.GetService<EmbeddingGeneratorMetadata>()!;
        Assert.Equal(ClipOnnxTextEmbeddingGenerator.ProviderName, metadata.ProviderName);
        Assert.Equal("micro-export", metadata.DefaultModelId); // the folder's name unless set
        Assert.Equal(bundle.EmbeddingSize, metadata.DefaultModelDimensions);
        Assert.NotNull(images.GetService<InferenceSession>());
        Assert.Equal(bundle.EmbeddingSize, images.GetService<ClipOnnxManifest>()!.EmbeddingSize);
        var refused = await Assert.ThrowsAsync<ArgumentException>(() => images.GenerateAsync(Images(examples), new EmbeddingGenerationOptions { Dimensions = 4 }));
        Assert.Contains("Dimensions is 4", refused.Message);
        var bad = await Assert.ThrowsAsync<ClipInputException>(() => images.GenerateAsync([.. Images(examples)[..5], new DataContent(new byte[] { 0, 1 }, "image/jpeg")]));
        Assert.Equal(5, bad.Row);
    }

    [Fact]
    public async Task RawExportsAreNormalizedOnRequestAndGiveRawEmbeddings()
    {
        var examples = Examples(5);
        using var bundle = Bundle(examples);
        var (_, stageTexts) = StageEmbeddings(bundle, examples);
        using var temp = new TempDirectory();
        string raw = temp.File("raw"), normalized = temp.File("normalized");
        bundle.ExportOnnx(raw, new ClipOnnxExportOptions { NormalizeEmbeddings = false });
        bundle.ExportOnnx(normalized);

        using (var generator = new ClipOnnxTextEmbeddingGenerator(raw))
        {
            var vectors = Vectors(await generator.GenerateAsync(Captions(examples)));
            for (int i = 0; i < vectors.Length; i++)
                Approx.Equal(stageTexts[i], vectors[i], OrtAtol, OrtRtol, $"text {i}, normalized by the generator");
        }
        using (var generator = new ClipOnnxTextEmbeddingGenerator(raw, new ClipOnnxEmbeddingGeneratorOptions { Normalize = false }))
        {
            var vectors = Vectors(await generator.GenerateAsync(Captions(examples)));
            using var noGrad = no_grad();
            using var tokens = bundle.Tokenizer.EncodeBatch(Captions(examples), bundle.ContextLength);
            using var expected = bundle.Model.EncodeText(tokens, normalize: false);
            for (int i = 0; i < vectors.Length; i++)
                Approx.Equal(expected[i].data<float>().ToArray(), vectors[i], OrtAtol, OrtRtol, $"raw text {i}"); // raw entries are ~1: same tolerance
        }
        var error = Assert.Throws<InvalidOperationException>(() => new ClipOnnxImageEmbeddingGenerator(normalized, new ClipOnnxEmbeddingGeneratorOptions { Normalize = false }));
        Assert.Contains("NormalizeEmbeddings = false", error.Message);
    }

    [Fact]
    public async Task OneRegistrationCallAndDisposalWithTheContainer()
    {
        var examples = Examples(3);
        using var bundle = Bundle(examples);
        using var temp = new TempDirectory();
        bundle.ExportOnnx(temp.File("export"));
        var services = new ServiceCollection();
        services.AddClipOnnxImageEmbeddingGenerator(temp.File("export"), new ClipOnnxEmbeddingGeneratorOptions { ModelId = "micro" });
        IEmbeddingGenerator<DataContent, Embedding<float>> generator;
        using (var provider = services.BuildServiceProvider())
        {
            generator = provider.GetRequiredService<IEmbeddingGenerator<DataContent, Embedding<float>>>();
            var embeddings = await generator.GenerateAsync(Images(examples));
            Assert.Equal(3, embeddings.Count);
            Assert.All(embeddings, e => Assert.Equal("micro", e.ModelId));
        }
        await Assert.ThrowsAsync<ObjectDisposedException>(() => generator.GenerateAsync(Images(examples)));
    }

    [Fact]
    public void DamagedExportsAreRefusedBeforeOnnxRuntimeReadsThem()
    {
        var examples = Examples(2);
        using var bundle = Bundle(examples);
        using var temp = new TempDirectory();
        var manifest = bundle.ExportOnnx(temp.File("export"));
        File.AppendAllText(Path.Combine(temp.File("export"), manifest.TextEncoder), "damage");
        var error = Assert.Throws<InvalidDataException>(() => new ClipOnnxTextEmbeddingGenerator(temp.File("export")));
        Assert.Contains("damaged or was replaced", error.Message);
        Assert.Throws<FileNotFoundException>(() => new ClipOnnxImageEmbeddingGenerator(temp.File("missing")));
    }

    [Fact]
    public void TheOnnxAssemblyReferencesNeitherTorchSharpNorMlNet()
    {
        // What the assembly's IL references: ONNX Runtime, the preprocessing assembly, the AI abstractions, SkiaSharp, the framework.
        var references = References(typeof(ClipOnnxTextEmbeddingGenerator).Assembly);
        Assert.Contains("Microsoft.ML.OnnxRuntime", references);
        Assert.Contains("Microsoft.ML.Clip.Preprocessing", references);
        var allowed = new[] { "Microsoft.ML.OnnxRuntime", "Microsoft.ML.Clip.Preprocessing", "Microsoft.Extensions.AI", "Microsoft.Extensions.AI.Abstractions",
            "Microsoft.Extensions.DependencyInjection.Abstractions", "SkiaSharp" };
        Assert.All(references, r => Assert.True(allowed.Contains(r) || r.StartsWith("System", StringComparison.Ordinal) || r == "netstandard",
            $"Microsoft.ML.Clip.OnnxRuntime references '{r}'"));
        // And the preprocessing assembly it brings along references neither either.
        Assert.DoesNotContain(References(typeof(ClipOnnxManifest).Assembly), r => r.StartsWith("TorchSharp", StringComparison.Ordinal) || r.StartsWith("Microsoft.ML.Core", StringComparison.Ordinal) || r == "Microsoft.ML.Data");

        // The package's whole dependency closure, as its build wrote it (deps.json beside its own output).
        string configuration = typeof(ClipOnnxEmbeddingGeneratorTests).Assembly.GetCustomAttribute<AssemblyConfigurationAttribute>()!.Configuration;
        string deps = Path.Combine(RepositoryRoot(), "src", "Microsoft.ML.Clip.OnnxRuntime", "bin", configuration, "net10.0", "Microsoft.ML.Clip.OnnxRuntime.deps.json");
        Assert.True(File.Exists(deps), $"'{deps}' is missing: build the project first");
        string text = File.ReadAllText(deps);
        Assert.Contains("\"Microsoft.ML.OnnxRuntime.Managed/", text);
        foreach (var forbidden in new[] { "TorchSharp", "libtorch", "\"Microsoft.ML/", "\"Microsoft.ML.Clip/" })
            Assert.DoesNotContain(forbidden, text);
    }

    private static string[] References(Assembly assembly)
    {
        using var stream = File.OpenRead(assembly.Location);
        using var pe = new PEReader(stream);
        var reader = pe.GetMetadataReader();
        return reader.AssemblyReferences.Select(h => reader.GetString(reader.GetAssemblyReference(h).Name)).ToArray();
    }

    private static string RepositoryRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "ClipMlNet.sln"))) dir = dir.Parent;
        return dir?.FullName ?? throw new DirectoryNotFoundException("The repository root (ClipMlNet.sln) is not above the test's output folder.");
    }
}
