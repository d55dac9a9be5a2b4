using System.Collections.Generic;

namespace Microsoft.ML.Clip.SampleData.Shapes;

/// <summary>Where a shapes data view's rows come from: by index when the count is known, otherwise in sequence.</summary>
internal abstract class ShapesRowSource
{
    /// <summary>Number of rows, or null when only a full pass can tell.</summary>
    public abstract long? Count { get; }

    /// <summary>Side of every image in pixels, or 0 when the source does not promise one.</summary>
    public abstract int ImageSize { get; }

    /// <summary>Row <paramref name="ordinal"/>; only for sources with a <see cref="Count"/>.</summary>
    public abstract ShapesRow Get(long ordinal);

    /// <summary>The rows in order.</summary>
    public virtual IEnumerable<ShapesRow> Enumerate()
    {
        long count = Count!.Value;
        for (long i = 0; i < count; i++)
            yield return Get(i);
    }
}

/// <summary>Rows generated from options: nothing exists before a cursor asks for it.</summary>
internal sealed class GeneratedRowSource(ResolvedShapesOptions options) : ShapesRowSource
{
    public override long? Count => options.Count;

    public override int ImageSize => options.ImageSize;

    public override ShapesRow Get(long ordinal) => new SceneRow(ShapeSceneSampler.Sample(options, ordinal));
}

/// <summary>Rows over a list of examples: count and random access (shuffling) come from the list.</summary>
internal sealed class ExampleListRowSource(IReadOnlyList<ShapeExample> examples) : ShapesRowSource
{
    public override long? Count => examples.Count;

    public override int ImageSize => 0;

    public override ShapesRow Get(long ordinal) => new ExampleRow(examples[checked((int)ordinal)]);
}

/// <summary>Rows over any sequence of examples, enumerated again by every cursor.</summary>
internal sealed class ExampleStreamRowSource(IEnumerable<ShapeExample> examples) : ShapesRowSource
{
    public override long? Count => null;

    public override int ImageSize => 0;

    public override ShapesRow Get(long ordinal) =>
        throw new System.NotSupportedException("A streamed sequence of examples has no random access.");

    public override IEnumerable<ShapesRow> Enumerate()
    {
        foreach (var example in examples)
            yield return new ExampleRow(example);
    }
}
