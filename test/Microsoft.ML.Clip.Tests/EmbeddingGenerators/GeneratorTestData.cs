using System;
using System.Collections;
using System.Collections.Generic;
using System.Linq;
using Microsoft.Extensions.AI;
using Microsoft.ML.Clip.Modeling;
using Microsoft.ML.Clip.SampleData;
using Microsoft.ML.Clip.Tests.Modeling;
using Microsoft.ML.Clip.Tokenization;
using Microsoft.ML.Data;
using static TorchSharp.torch;

namespace Microsoft.ML.Clip.Tests.EmbeddingGenerators;

/// <summary>A tiny seeded model, shapes images (64 px PNGs: resized by the 16 px model) with captions, and the ML.NET stages' embeddings of them.</summary>
internal static class GeneratorTestData
{
    public static IReadOnlyList<ShapeExample> Examples(int count, int seed = 11) =>
        ShapesDataset.Generate(new ShapesDatasetOptions { Count = count, Seed = seed });

    public static ClipModelBundle Bundle(IReadOnlyList<ShapeExample> examples, ClipConfig? config = null)
    {
        manual_seed(21);
        var tokenizer = ClipBpeTrainer.Train(examples.Select(e => e.Caption).ToList(), new ClipBpeTrainerOptions { VocabularySize = 600 });
        var architecture = config ?? TinyConfigs.Micro;
        var model = new ClipModel(architecture with { Text = architecture.Text with { VocabSize = tokenizer.VocabularySize } });
        return new ClipModelBundle(model, tokenizer);
    }

    public static DataContent[] Images(IEnumerable<ShapeExample> examples) =>
        examples.Select(e => new DataContent(e.ImageBytes, "image/png")).ToArray();

    public static string[] Captions(IEnumerable<ShapeExample> examples) => examples.Select(e => e.Caption).ToArray();

    public static float[][] Vectors(GeneratedEmbeddings<Embedding<float>> embeddings) => embeddings.Select(e => e.Vector.ToArray()).ToArray();

    public sealed class Row
    {
        [VectorType] public byte[] Image { get; set; } = [];
        public string Text { get; set; } = "";
    }

    /// <summary>The ClipImageEmbedding and ClipTextEmbedding stages' embeddings of the examples (their default batch sizes).</summary>
    public static (float[][] Images, float[][] Texts) StageEmbeddings(ClipModelBundle bundle, IReadOnlyList<ShapeExample> examples)
    {
        var mlContext = new MLContext(seed: 0);
        var data = mlContext.Data.LoadFromEnumerable(examples.Select(e => new Row { Image = e.ImageBytes, Text = e.Caption }).ToList());
        var pipeline = mlContext.Transforms.ClipImageEmbedding(bundle).Append(mlContext.Transforms.ClipTextEmbedding(bundle));
        var output = pipeline.Fit(data).Transform(data);
        return (output.GetColumn<float[]>("ImageEmbedding").ToArray(), output.GetColumn<float[]>("TextEmbedding").ToArray());
    }

    /// <summary>
    /// A list that runs <paramref name="onRead"/> the first time an item is read: lets a test act while a generator is
    /// inside its first batch (the generator reads its inputs there), and records the highest index read.
    /// </summary>
    public sealed class WatchedList<T>(IReadOnlyList<T> items, Action onRead) : IReadOnlyList<T>
    {
        private int _fired;

        public int HighestIndexRead { get; private set; } = -1;

        public T this[int index]
        {
            get
            {
                lock (this) HighestIndexRead = Math.Max(HighestIndexRead, index);
                if (System.Threading.Interlocked.Exchange(ref _fired, 1) == 0) onRead();
                return items[index];
            }
        }

        public int Count => items.Count;

        public IEnumerator<T> GetEnumerator()
        {
            for (int i = 0; i < Count; i++) yield return this[i];
        }

        IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();
    }
}
