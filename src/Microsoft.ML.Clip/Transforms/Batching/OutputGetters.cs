using System;
using Microsoft.ML;
using Microsoft.ML.Data;

namespace Microsoft.ML.Clip.Transforms.Batching;

/// <summary>Getters over a batch's flat float outputs: float vectors as they are, key columns stored as one float per row.</summary>
internal static class OutputGetters
{
    public static ValueGetter<TValue> Create<TValue>(string name, DataViewType type, Func<Span<float>> current)
    {
        if (type is KeyDataViewType)
        {
            if (typeof(TValue) != typeof(uint))
                throw new InvalidOperationException($"Column '{name}' holds UInt32 key values, not {typeof(TValue).Name}.");
            ValueGetter<uint> key = (ref uint value) => value = (uint)current()[0];
            return (ValueGetter<TValue>)(Delegate)key;
        }
        if (typeof(TValue) != typeof(VBuffer<float>))
            throw new InvalidOperationException($"Column '{name}' holds VBuffer<Single> values, not {typeof(TValue).Name}.");
        ValueGetter<VBuffer<float>> vector = (ref VBuffer<float> value) =>
        {
            var source = current();
            var editor = VBufferEditor.Create(ref value, source.Length);
            source.CopyTo(editor.Values);
            value = editor.Commit();
        };
        return (ValueGetter<TValue>)(Delegate)vector;
    }

    /// <summary>Floats per row that a column of <paramref name="type"/> needs in a batch.</summary>
    public static int SlotsPerRow(DataViewType type) => type switch
    {
        KeyDataViewType => 1,
        VectorDataViewType { Size: > 0 } v when v.ItemType == NumberDataViewType.Single => v.Size,
        _ => throw new ArgumentException($"Batched outputs are known-size Single vectors or keys, not {type}."),
    };
}
