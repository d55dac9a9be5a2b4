using System;
using System.Collections.Generic;
using System.Collections.ObjectModel;
using System.Linq;
using System.Threading.Tasks;
using Microsoft.ML.Clip.Imaging;
using Microsoft.ML.Clip.SampleData.Shapes;

namespace Microsoft.ML.Clip.SampleData;

/// <summary>
/// The built-in "coloured shapes" image–caption dataset, generated in code: anti-aliased circles, squares,
/// triangles, stars, crosses and hearts in several colours, sizes and grid positions on a dark, lightly noisy
/// grey background, each with a caption ("a small red circle on the left", "red circle, small, left side", ...)
/// and structured labels. Small enough for a tiny ViT to learn in minutes on a CPU, with held-out
/// (shape, colour) combinations for measuring zero-shot generalisation.
/// </summary>
/// <remarks>
/// <para>Every example is a function of (seed, split, index) and the options, computed with its own generator
/// and a managed rasterizer (integer blending, no sin/cos), so the pixels are identical on every machine and
/// examples can be made in parallel or in any order (a test pins a hash of the pixels). The PNG bytes are
/// identical wherever the same .NET runtime compresses them; another zlib build may choose other, equally valid
/// compressed bytes for the same pixels.</para>
/// <para>Speed, measured on 2 heavily shared cores: <see cref="Generate"/> makes 10,000 images of 64×64 pixels
/// in 4–9 s (mostly PNG compression of the noise; 36 MB of PNG), 32×32 in 2–3 s; a data view cursor reading
/// only <see cref="ShapesColumns.Image"/> renders 10,000 64×64 images in under half a second on one thread.</para>
/// </remarks>
/// <example>
/// <code>
/// var train = ShapesDataset.ToDataView(mlContext, new ShapesDatasetOptions { Count = 20_000, Seed = 1 });
/// var heldOut = ShapesDataset.ToDataView(mlContext, new ShapesDatasetOptions { Count = 1_000, Seed = 2, Split = ShapesSplit.HeldOut });
/// IReadOnlyList&lt;string&gt; classes = ShapesDataset.ClassNames(new ShapesDatasetOptions());   // "red circle", ...
/// </code>
/// </example>
public static class ShapesDataset
{
    /// <summary>Name of the CSV file <see cref="WriteToFolder(string, ShapesDatasetOptions)"/> writes.</summary>
    public const string ManifestFileName = "manifest.csv";

    // Examples rendered together by Enumerate and WriteToFolder: enough work per parallel loop, little memory.
    private const int BatchSize = 256;

    /// <summary>
    /// Zero-shot prompt templates suited to the dataset; <c>{}</c> stands for a class name such as
    /// <c>red circle</c>. They avoid "a {}" because the article depends on the class ("an orange star").
    /// </summary>
    public static IReadOnlyList<string> PromptTemplates { get; } =
    [
        "a photo of the {}.",
        "a picture of the {}.",
        "the {} shape.",
        "a drawing of the {}.",
        "the {}.",
    ];

    /// <summary>Generates every example of the split at once, in parallel. Use <see cref="Enumerate"/> or a data view for large sets.</summary>
    /// <param name="options">What to generate.</param>
    /// <returns>The examples, in index order.</returns>
    public static IReadOnlyList<ShapeExample> Generate(ShapesDatasetOptions options)
    {
        var resolved = ResolvedShapesOptions.From(options);
        if (resolved.Count > Array.MaxLength)
            throw new ArgumentOutOfRangeException(nameof(options), resolved.Count, "Too many examples for one list: use Enumerate or ToDataView.");
        var examples = new ShapeExample[resolved.Count];
        Parallel.For(0, examples.Length, i => examples[i] = CreateExample(resolved, i));
        return new ReadOnlyCollection<ShapeExample>(examples);
    }

    /// <summary>
    /// Streams the examples in index order, rendering a small batch at a time in parallel; nothing is kept
    /// once the caller moves on.
    /// </summary>
    /// <param name="options">What to generate; read when this method is called, not when enumerating.</param>
    public static IEnumerable<ShapeExample> Enumerate(ShapesDatasetOptions options) =>
        Batches(ResolvedShapesOptions.From(options)).SelectMany(batch => batch);

    /// <summary>
    /// A data view that generates rows as cursors reach them: rows are never stored, images are rendered only
    /// for cursors that read <see cref="ShapesColumns.Image"/> or <see cref="ShapesColumns.ImageBytes"/>, the
    /// row count is known and the view can shuffle. Columns: see <see cref="ShapesColumns"/>.
    /// </summary>
    /// <param name="mlContext">The ML.NET context the view is used with.</param>
    /// <param name="options">What to generate; copied, so later changes to it do not affect the view.</param>
    public static IDataView ToDataView(MLContext mlContext, ShapesDatasetOptions options)
    {
        ArgumentNullException.ThrowIfNull(mlContext);
        return new ShapesDataView(new GeneratedRowSource(ResolvedShapesOptions.From(options)));
    }

    /// <summary>
    /// A data view over existing examples, with the same columns as
    /// <see cref="ToDataView(MLContext, ShapesDatasetOptions)"/>. Images are decoded from the PNG bytes only when
    /// <see cref="ShapesColumns.Image"/> is read. A list (such as <see cref="Generate"/>'s result) gives a known
    /// row count and shuffling; any other sequence is enumerated again by every cursor. The image column's
    /// type does not promise a size, as the examples could differ.
    /// </summary>
    /// <param name="mlContext">The ML.NET context the view is used with.</param>
    /// <param name="examples">The examples; not copied.</param>
    public static IDataView ToDataView(MLContext mlContext, IEnumerable<ShapeExample> examples)
    {
        ArgumentNullException.ThrowIfNull(mlContext);
        ArgumentNullException.ThrowIfNull(examples);
        return new ShapesDataView(examples is IReadOnlyList<ShapeExample> list
            ? new ExampleListRowSource(list)
            : new ExampleStreamRowSource(examples));
    }

    /// <summary>
    /// Writes the split as PNG files <c>images/000000.png</c>, ... under <paramref name="folder"/> and a
    /// <c>manifest.csv</c> beside them with the columns <c>path,caption,label,shape,colour,size,position</c>
    /// (paths relative to the folder, fields quoted as RFC 4180 says, UTF-8). The manifest is written last and
    /// atomically. Read it with <c>LoadFromTextFile(path, separatorChar: ',', hasHeader: true, allowQuoting: true)</c>.
    /// </summary>
    /// <param name="folder">The folder; created if missing. Files of the same names are replaced.</param>
    /// <param name="options">What to generate.</param>
    /// <returns>The manifest's full path.</returns>
    public static string WriteToFolder(string folder, ShapesDatasetOptions options) =>
        ShapesFolderWriter.Write(folder, Batches(ResolvedShapesOptions.From(options)));

    /// <summary>Writes existing examples as <see cref="WriteToFolder(string, ShapesDatasetOptions)"/> does, numbering files in sequence order.</summary>
    /// <param name="folder">The folder; created if missing. Files of the same names are replaced.</param>
    /// <param name="examples">The examples.</param>
    /// <returns>The manifest's full path.</returns>
    public static string WriteToFolder(string folder, IEnumerable<ShapeExample> examples)
    {
        ArgumentNullException.ThrowIfNull(examples);
        return ShapesFolderWriter.Write(folder, examples.Chunk(BatchSize));
    }

    /// <summary>
    /// Class names for zero-shot classification: every (shape, colour) combination the options draw, colour
    /// first (<c>red circle</c>), ordered by shape and then colour. Held-out combinations are included.
    /// </summary>
    /// <param name="options">The options; null for the defaults.</param>
    public static IReadOnlyList<string> ClassNames(ShapesDatasetOptions? options = null) =>
        Resolve(options).AllPairs.Select(p => p.ClassName).ToArray();

    /// <summary>
    /// The held-out pairs the options use: <see cref="ShapesDatasetOptions.HeldOutPairs"/>, or the default set
    /// when that is null.
    /// </summary>
    /// <param name="options">The options; null for the defaults.</param>
    public static IReadOnlyList<ShapeColourPair> HeldOutPairs(ShapesDatasetOptions? options = null) => Resolve(options).HeldOut;

    /// <summary>
    /// The default held-out set for the options' shapes and colours, whatever their
    /// <see cref="ShapesDatasetOptions.HeldOutPairs"/> says: one colour per shape, the <c>i</c>-th shape losing
    /// colour <c>(2i + 1) mod m</c> (<c>(i + 1) mod m</c> for an even colour count <c>m</c>). With the default shapes
    /// and colours: green circle, yellow square, orange triangle, red star, blue cross, purple heart. Every
    /// shape and every colour still appears in training, only not in these combinations.
    /// </summary>
    /// <param name="options">The options; null for the defaults.</param>
    public static IReadOnlyList<ShapeColourPair> DefaultHeldOutPairs(ShapesDatasetOptions? options = null)
    {
        options ??= new ShapesDatasetOptions();
        return ResolvedShapesOptions.DefaultHeldOut(
            options.Shapes ?? ShapesDatasetOptions.DefaultShapes, options.Colours ?? ShapesDatasetOptions.DefaultColours);
    }

    private static ResolvedShapesOptions Resolve(ShapesDatasetOptions? options) =>
        ResolvedShapesOptions.From(options ?? new ShapesDatasetOptions());

    private static ShapeExample CreateExample(ResolvedShapesOptions options, long index)
    {
        var scene = ShapeSceneSampler.Sample(options, index);
        byte[] png = PngEncoder.EncodeRgba(ShapeRasterizer.RenderRgba(scene), scene.ImageSize, scene.ImageSize);
        return new ShapeExample(index, png, scene.Caption, scene.Objects);
    }

    private static IEnumerable<ShapeExample[]> Batches(ResolvedShapesOptions options)
    {
        for (long start = 0; start < options.Count; start += BatchSize)
        {
            var batch = new ShapeExample[(int)Math.Min(BatchSize, options.Count - start)];
            long first = start;
            Parallel.For(0, batch.Length, i => batch[i] = CreateExample(options, first + i));
            yield return batch;
        }
    }
}
