#pragma warning disable MEVD9001 // VectorData's provider services are marked for evaluation: what connectors build on
using System.Linq;
using System.Threading.Tasks;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.VectorData;
using Microsoft.Extensions.VectorData.ProviderServices;
using Microsoft.ML.Clip.Extensions.AI;
using Xunit;
using static Microsoft.ML.Clip.Tests.EmbeddingGenerators.GeneratorTestData;

namespace Microsoft.ML.Clip.Tests.EmbeddingGenerators;

/// <summary>
/// Microsoft.Extensions.VectorData: no vector-store connector is served here, so the generators are checked against the
/// part every connector builds on, VectorData's own record model builder: it must accept them as the embedding
/// generator of a <see cref="DataContent"/> property and of a string property, and embed through them.
/// </summary>
public class VectorDataTests
{
    public sealed class ImageRecord
    {
        [VectorStoreKey] public string Path { get; set; } = "";
        [VectorStoreData] public string Caption { get; set; } = "";
        [VectorStoreVector(16)] public DataContent? Image { get; set; }
    }

    public sealed class TextRecord
    {
        [VectorStoreKey] public string Id { get; set; } = "";
        [VectorStoreVector(16)] public string? Text { get; set; }
    }

    /// <summary>What a connector for a store of float vectors and string data would declare.</summary>
    private sealed class ModelBuilder() : CollectionModelBuilder(new CollectionModelBuildingOptions { SupportsMultipleVectors = true, RequiresAtLeastOneVector = true })
    {
        protected override bool IsDataPropertyTypeValid(System.Type type, out string supportedTypes)
        {
            supportedTypes = "string";
            return type == typeof(string);
        }

        protected override bool IsVectorPropertyTypeValid(System.Type type, out string supportedTypes)
        {
            supportedTypes = "ReadOnlyMemory<float>, Embedding<float>, float[]";
            return type == typeof(System.ReadOnlyMemory<float>) || type == typeof(Embedding<float>) || type == typeof(float[]);
        }
    }

    [Fact]
    public async Task RecordModelsEmbedDataContentAndStringPropertiesThroughTheGenerators()
    {
        var examples = Examples(3);
        using var bundle = Bundle(examples);
        using var images = bundle.AsImageEmbeddingGenerator();
        using var texts = bundle.AsTextEmbeddingGenerator();

        var imageModel = new ModelBuilder().Build(typeof(ImageRecord), typeof(string), definition: null, defaultEmbeddingGenerator: images);
        var imageProperty = imageModel.VectorProperty;
        Assert.Equal(typeof(Embedding<float>), imageProperty.EmbeddingType);
        Assert.Same(images, imageProperty.EmbeddingGenerator);
        var content = Images(examples)[1];
        var viaStore = await imageProperty.GenerateEmbeddingAsync(content, default);
        Assert.Equal((await images.GenerateAsync([content]))[0].Vector.ToArray(), ((Embedding<float>)viaStore).Vector.ToArray());

        var textModel = new ModelBuilder().Build(typeof(TextRecord), typeof(string), definition: null, defaultEmbeddingGenerator: texts);
        var many = await textModel.VectorProperty.GenerateEmbeddingsAsync(Captions(examples), default);
        Assert.Equal(3, many.Count);
        var direct = await texts.GenerateAsync(Captions(examples));
        for (int i = 0; i < 3; i++)
            Assert.Equal(direct[i].Vector.ToArray(), ((Embedding<float>)many[i]).Vector.ToArray());

        // A generator of the wrong input type is refused by the builder (the check a connector relies on).
        Assert.ThrowsAny<System.Exception>(() => new ModelBuilder().Build(typeof(ImageRecord), typeof(string), definition: null, defaultEmbeddingGenerator: texts));
    }
}
