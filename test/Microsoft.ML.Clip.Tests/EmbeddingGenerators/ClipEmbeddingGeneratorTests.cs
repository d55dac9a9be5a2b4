using System;
using System.IO;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using Microsoft.Extensions.AI;
using Microsoft.ML.Clip.Extensions.AI;
using Microsoft.ML.Clip.Imaging;
using Microsoft.ML.Clip.Tests.Modeling;
using Xunit;
using static Microsoft.ML.Clip.Tests.EmbeddingGenerators.GeneratorTestData;

namespace Microsoft.ML.Clip.Tests.EmbeddingGenerators;

/// <summary>The TorchSharp embedding generators (Microsoft.ML.Clip.Extensions.AI) over a ClipModelBundle.</summary>
public class ClipEmbeddingGeneratorTests
{
    // Normalized embeddings of the tiny model have entries of about 0.25. The generator and the stage run the same
    // kernels on the same pixels and ids, but in other batch splits (5 against the stages' 32 and 64), so libtorch's
    // GEMMs may sum in another order: fp32 rounding of sums of ~32 terms, far below 1e-5. A wrong image (another
    // resize, a lost row, a shifted batch) moves entries by 1e-2 or more.
    private const double BatchSplitAtol = 1e-5, BatchSplitRtol = 1e-4;

    [Fact]
    public async Task EmbeddingsAgreeWithTheStagesAcrossBatchSplits()
    {
        var examples = Examples(23);
        using var bundle = Bundle(examples);
        var (stageImages, stageTexts) = StageEmbeddings(bundle, examples);
        using var images = new ClipImageEmbeddingGenerator(bundle, new ClipEmbeddingGeneratorOptions { BatchSize = 5 });
        using var texts = new ClipTextEmbeddingGenerator(bundle, new ClipEmbeddingGeneratorOptions { BatchSize = 5 });

        var imageVectors = Vectors(await images.GenerateAsync(Images(examples)));
        var textVectors = Vectors(await texts.GenerateAsync(Captions(examples)));

        Assert.Equal(examples.Count, imageVectors.Length);
        Assert.Equal(examples.Count, textVectors.Length);
        for (int i = 0; i < examples.Count; i++)
        {
            Approx.Equal(stageImages[i], imageVectors[i], BatchSplitAtol, BatchSplitRtol, $"image {i}");
            Approx.Equal(stageTexts[i], textVectors[i], BatchSplitAtol, BatchSplitRtol, $"text {i}");
        }
        // Different inputs give different embeddings (the comparison above cannot pass on a constant output).
        Assert.True(Approx.MaxDiff(imageVectors[0], imageVectors[1]) > 1e-3);
    }

    [Fact]
    public async Task RawEmbeddingsOnRequestNormalizedByDefault()
    {
        var examples = Examples(6);
        using var bundle = Bundle(examples);
        using var normalized = bundle.AsImageEmbeddingGenerator();
        using var raw = bundle.AsImageEmbeddingGenerator(new ClipEmbeddingGeneratorOptions { Normalize = false });
        var n = Vectors(await normalized.GenerateAsync(Images(examples)));
        var r = Vectors(await raw.GenerateAsync(Images(examples)));
        for (int i = 0; i < n.Length; i++)
        {
            double norm = Math.Sqrt(r[i].Sum(x => (double)x * x));
            Assert.True(Math.Abs(norm - 1) > 1e-2, $"raw embedding {i} has norm {norm}: not raw");
            Approx.Equal(1.0, Math.Sqrt(n[i].Sum(x => (double)x * x)), 1e-5, 0, $"norm of normalized embedding {i}"); // fp32 sum of 16 squares
            // The same batch of the same kernels: raw / ‖raw‖ is the normalized vector up to the division's rounding.
            Approx.Equal(n[i], r[i].Select(x => (float)(x / norm)).ToArray(), 1e-6, 1e-5, $"raw {i} normalized");
        }
    }

    [Fact]
    public async Task BadImagesFailTheCallNamingTheirIndexAndReason()
    {
        var examples = Examples(4);
        using var bundle = Bundle(examples);
        using var generator = new ClipImageEmbeddingGenerator(bundle, new ClipEmbeddingGeneratorOptions { BatchSize = 2 });
        var good = Images(examples);
        var png = examples[0].ImageBytes;

        async Task<ClipInputException> Fails(int index, DataContent bad)
        {
            var inputs = good.ToArray();
            inputs[index] = bad;
            var error = await Assert.ThrowsAsync<ClipInputException>(() => generator.GenerateAsync(inputs));
            Assert.Equal(index, error.Row);
            Assert.Equal("image", error.Column);
            return error;
        }

        Assert.Contains("not an image in a supported format", (await Fails(2, new DataContent(new byte[] { 1, 2, 3, 4, 5, 6, 7, 8 }, "image/png"))).Message);
        Assert.Contains("truncated or corrupt", (await Fails(3, new DataContent(png[..(png.Length / 2)], "image/png"))).Message);
        Assert.Contains("media type is 'text/plain', not an image", (await Fails(1, new DataContent(png, "text/plain"))).Message);
        Assert.Contains("null", (await Fails(0, null!)).Message);
        // A 20,000² PNG of a few kilobytes: refused from its header (400 M pixels > 89 M), never decoded.
        var bomb = await Fails(3, new DataContent(TestPng.Solid(20_000, 20_000, 2, 8, 7), "image/png"));
        Assert.IsType<ImageTooLargeException>(bomb.InnerException);
        // application/octet-stream is decoded by content; the same image gives the same embedding.
        var octet = await generator.GenerateAsync([new DataContent(png, "application/octet-stream"), good[0]]);
        Assert.Equal(octet[1].Vector.ToArray(), octet[0].Vector.ToArray());
    }

    [Fact]
    public async Task NullTextFailsNamingItsIndex()
    {
        var examples = Examples(3);
        using var bundle = Bundle(examples);
        using var generator = bundle.AsTextEmbeddingGenerator();
        var error = await Assert.ThrowsAsync<ClipInputException>(() => generator.GenerateAsync(["a red circle", null!, "a square"]));
        Assert.Equal(1, error.Row);
        Assert.Equal("text", error.Column);
        Assert.Empty(await generator.GenerateAsync([]));
    }

    [Fact]
    public async Task DimensionsOtherThanTheModelsAreRefusedAndItsOwnAccepted()
    {
        var examples = Examples(2);
        using var bundle = Bundle(examples);
        using var generator = new ClipTextEmbeddingGenerator(bundle, new ClipEmbeddingGeneratorOptions { ModelId = "tiny" });
        var error = await Assert.ThrowsAsync<ArgumentException>(() => generator.GenerateAsync(["a"], new EmbeddingGenerationOptions { Dimensions = 8 }));
        Assert.Contains("Dimensions is 8", error.Message);
        Assert.Contains($"{bundle.EmbeddingSize} dimensions", error.Message);
        var same = await generator.GenerateAsync(["a"], new EmbeddingGenerationOptions { Dimensions = bundle.EmbeddingSize, ModelId = "tiny" });
        Assert.Equal(bundle.EmbeddingSize, same[0].Dimensions);
        Assert.Equal("tiny", same[0].ModelId);
        var other = await Assert.ThrowsAsync<ArgumentException>(() => generator.GenerateAsync(["a"], new EmbeddingGenerationOptions { ModelId = "ViT-L-14" }));
        Assert.Contains("'ViT-L-14'", other.Message);
    }

    [Fact]
    public async Task CancellationIsHonouredBetweenBatches()
    {
        var examples = Examples(10);
        using var bundle = Bundle(examples);
        using var generator = new ClipTextEmbeddingGenerator(bundle, new ClipEmbeddingGeneratorOptions { BatchSize = 4 });
        using var cancel = new CancellationTokenSource();
        // The first read of an input happens inside the first batch: cancelling there lets that batch finish and stops the next.
        var inputs = new WatchedList<string>(Captions(examples), cancel.Cancel);
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => generator.GenerateAsync(inputs, cancellationToken: cancel.Token));
        Assert.Equal(3, inputs.HighestIndexRead); // batch 0 (inputs 0–3) only

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => generator.GenerateAsync(Captions(examples), cancellationToken: cancel.Token));
    }

    [Fact]
    public async Task ConcurrentCallsGiveTheSerialEmbeddings()
    {
        var examples = Examples(24);
        using var bundle = Bundle(examples);
        using var generator = new ClipImageEmbeddingGenerator(bundle, new ClipEmbeddingGeneratorOptions { BatchSize = 3 });
        var parts = Enumerable.Range(0, 4).Select(p => Images(examples.Skip(p * 6).Take(6))).ToArray();
        var serial = new float[4][][];
        for (int p = 0; p < 4; p++) serial[p] = Vectors(await generator.GenerateAsync(parts[p]));

        var concurrent = await Task.WhenAll(parts.Select(part => Task.Run(async () => Vectors(await generator.GenerateAsync(part)))));

        // Concurrent batches share libtorch's threads, so a GEMM may split its sums differently: fp32 rounding only.
        for (int p = 0; p < 4; p++)
            for (int i = 0; i < 6; i++)
                Approx.Equal(serial[p][i], concurrent[p][i], BatchSplitAtol, BatchSplitRtol, $"part {p}, image {i}");
    }

    [Fact]
    public void GetServiceGivesMetadataAndTheBundle()
    {
        var examples = Examples(2);
        using var bundle = Bundle(examples);
        using var generator = new ClipImageEmbeddingGenerator(bundle, new ClipEmbeddingGeneratorOptions { ModelId = "micro" });
        var metadata = generator.GetService<EmbeddingGeneratorMetadata>()!;
        Assert.Equal(ClipTextEmbeddingGenerator.ProviderName, metadata.ProviderName);
        Assert.Equal("micro", metadata.DefaultModelId);
        Assert.Equal(bundle.EmbeddingSize, metadata.DefaultModelDimensions);
        Assert.Same(bundle, generator.GetService<ClipModelBundle>());
        Assert.Same(generator, generator.GetService<IEmbeddingGenerator<DataContent, Embedding<float>>>());
        Assert.Null(generator.GetService<ClipModelBundle>("some key"));
        Assert.Null(generator.GetService<string>());
    }

    [Fact]
    public async Task DisposeWaitsForTheCallInProgressAndThenRefuses()
    {
        var examples = Examples(9);
        using var bundle = Bundle(examples);
        var generator = new ClipTextEmbeddingGenerator(bundle, new ClipEmbeddingGeneratorOptions { BatchSize = 2 });
        var expected = Vectors(await generator.GenerateAsync(Captions(examples)));
        Task? disposing = null;
        var inputs = new WatchedList<string>(Captions(examples), () => disposing = Task.Run(generator.Dispose));

        var during = Vectors(await generator.GenerateAsync(inputs)); // all 5 batches run although Dispose began in the first
        await disposing!;
        for (int i = 0; i < expected.Length; i++)
            Approx.Equal(expected[i], during[i], BatchSplitAtol, BatchSplitRtol, $"text {i}");
        await Assert.ThrowsAsync<ObjectDisposedException>(() => generator.GenerateAsync(["a"]));
        // The bundle was not the generator's: it still encodes.
        using var again = bundle.AsTextEmbeddingGenerator();
        Assert.Single(await again.GenerateAsync(["a"]));
    }

    [Fact]
    public async Task DisposingTheBundleFreesItsTensorsAndStopsItsGenerators()
    {
        var examples = Examples(2);
        var bundle = Bundle(examples);
        var parameter = bundle.Model.parameters().First();
        using var generator = bundle.AsImageEmbeddingGenerator();
        Assert.Equal(2, (await generator.GenerateAsync(Images(examples))).Count);

        bundle.Dispose();
        bundle.Dispose(); // a second call does nothing

        Assert.True(parameter.IsInvalid, "the model's parameters still hold native memory after Dispose");
        Assert.Throws<ObjectDisposedException>(() => bundle.Model);
        Assert.Equal(TinyConfigs.Micro.EmbedDim, bundle.EmbeddingSize); // plain facts stay readable
        var error = await Assert.ThrowsAsync<ObjectDisposedException>(() => generator.GenerateAsync(Images(examples)));
        Assert.Contains(nameof(ClipModelBundle), error.ObjectName);
    }

    [Fact]
    public async Task AGeneratorThatOwnsItsBundleDisposesIt()
    {
        var examples = Examples(2);
        var bundle = Bundle(examples);
        var generator = new ClipTextEmbeddingGenerator(bundle, new ClipEmbeddingGeneratorOptions { OwnsBundle = true });
        Assert.Single(await generator.GenerateAsync(["a"]));
        generator.Dispose();
        Assert.Throws<ObjectDisposedException>(() => bundle.Model);
    }
}
