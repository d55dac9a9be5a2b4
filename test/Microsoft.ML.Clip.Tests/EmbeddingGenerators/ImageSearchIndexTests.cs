using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using Microsoft.Extensions.AI;
using Microsoft.ML.Clip.Extensions.AI;
using Microsoft.ML.Clip.SearchSample;
using Xunit;
using static Microsoft.ML.Clip.Tests.EmbeddingGenerators.GeneratorTestData;

namespace Microsoft.ML.Clip.Tests.EmbeddingGenerators;

/// <summary>The search sample's index: incremental refresh, persistence beside the model, exact top-k by one matrix product.</summary>
public class ImageSearchIndexTests
{
    /// <summary>Counts the images that reach the model.</summary>
    private sealed class Counting(IEmbeddingGenerator<DataContent, Embedding<float>> inner) : DelegatingEmbeddingGenerator<DataContent, Embedding<float>>(inner)
    {
        public int Embedded;

        public override Task<GeneratedEmbeddings<Embedding<float>>> GenerateAsync(IEnumerable<DataContent> values, EmbeddingGenerationOptions? options = null,
            CancellationToken cancellationToken = default)
        {
            var list = values.ToList();
            Interlocked.Add(ref Embedded, list.Count);
            return base.GenerateAsync(list, options, cancellationToken);
        }
    }

    [Fact]
    public async Task RefreshEmbedsOnlyNewAndChangedFilesAndAReopenedIndexReEmbedsNothing()
    {
        var examples = Examples(8);
        using var bundle = Bundle(examples);
        using var generator = new ClipImageEmbeddingGenerator(bundle, new ClipEmbeddingGeneratorOptions { ModelId = "micro", BatchSize = 3 });
        using var temp = new TempDirectory();
        string folder = temp.File("images"), model = temp.File("model");
        Directory.CreateDirectory(Path.Combine(folder, "sub"));
        for (int i = 0; i < 6; i++) File.WriteAllBytes(Path.Combine(folder, i < 3 ? "" : "sub", $"{i}.png"), examples[i].ImageBytes);
        File.WriteAllBytes(Path.Combine(folder, "broken.png"), [1, 2, 3]);
        File.WriteAllText(Path.Combine(folder, "notes.txt"), "not an image");
        string indexFile = ImageSearchIndex.DefaultIndexFile(model, folder);

        var counting = new Counting(generator);
        var index = ImageSearchIndex.Open(folder, indexFile, counting);
        var first = await index.RefreshAsync();
        Assert.Equal((6, 0, 0, 0), (first.Added, first.Changed, first.Removed, first.Kept));
        Assert.Equal(["broken.png"], first.Refused);
        Assert.Equal(6, index.Count);
        Assert.True(File.Exists(indexFile));
        Assert.StartsWith(Path.Combine(model, "search-index"), indexFile);

        // A restart: the persisted index is read back and nothing is embedded again.
        var restarted = new Counting(generator);
        var reopened = ImageSearchIndex.Open(folder, indexFile, restarted);
        Assert.Null(reopened.DiscardedBecause);
        var second = await reopened.RefreshAsync();
        Assert.Equal((0, 0, 0, 6), (second.Added, second.Changed, second.Removed, second.Kept));
        Assert.Equal(1, restarted.Embedded); // only the broken file is tried again

        // One file deleted, one added, one rewritten: two files to embed, with the broken one in their chunk: the call
        // fails on it (3 inputs sent), and the two are sent again without it.
        File.Delete(Path.Combine(folder, "0.png"));
        File.WriteAllBytes(Path.Combine(folder, "sub", "6.png"), examples[6].ImageBytes);
        File.WriteAllBytes(Path.Combine(folder, "1.png"), examples[7].ImageBytes);
        File.SetLastWriteTimeUtc(Path.Combine(folder, "1.png"), DateTime.UtcNow.AddMinutes(1));
        var third = await reopened.RefreshAsync();
        Assert.Equal((1, 1, 1, 4), (third.Added, third.Changed, third.Removed, third.Kept));
        Assert.Equal(1 + 3 + 2, restarted.Embedded);

        // Exact search: an image finds itself first with cosine 1, and every score is the dot product of normalized embeddings.
        var query = (await generator.GenerateAsync([new DataContent(examples[4].ImageBytes, "image/png")]))[0].Vector;
        var hits = reopened.Search([query], top: 3)[0];
        Assert.Equal("sub/4.png", hits[0].Path);
        Approx.Equal(1.0, hits[0].Score, 1e-5, 0, "self-similarity"); // a dot product of 16 fp32 products of a unit vector with itself
        var other = (await generator.GenerateAsync([new DataContent(File.ReadAllBytes(Path.Combine(folder, hits[1].Path)), "image/png")]))[0].Vector;
        float dot = 0;
        for (int i = 0; i < query.Length; i++) dot += query.Span[i] * other.Span[i];
        Approx.Equal(dot, hits[1].Score, 1e-5, 0, "second hit's score"); // the same 16-term fp32 dot product in another order
        Assert.True(hits[0].Score >= hits[1].Score && hits[1].Score >= hits[2].Score);

        // An index of another model is not mixed in: it is rebuilt.
        using var otherModel = new ClipImageEmbeddingGenerator(bundle, new ClipEmbeddingGeneratorOptions { ModelId = "another" });
        var foreign = ImageSearchIndex.Open(folder, indexFile, otherModel);
        Assert.Contains("'micro'", foreign.DiscardedBecause);
        Assert.Equal(0, foreign.Count);
    }
}
