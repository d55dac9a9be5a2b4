using System.Collections.Generic;
using TorchSharp;

namespace Microsoft.ML.Clip.Weights;

/// <summary>One tensor described by a safetensors header: validated, not yet read.</summary>
/// <param name="Name">Tensor name (for example <c>visual.conv1.weight</c>).</param>
/// <param name="DType">Element type.</param>
/// <param name="Shape">Dimensions.</param>
/// <param name="Begin">Offset of the first byte, relative to the start of the data section.</param>
/// <param name="End">Offset one past the last byte, relative to the start of the data section.</param>
public sealed record SafeTensorsEntry(string Name, torch.ScalarType DType, long[] Shape, long Begin, long End)
{
    /// <summary>Size of the tensor's data in bytes.</summary>
    public long ByteLength => End - Begin;
}

/// <summary>A validated safetensors header.</summary>
/// <param name="Entries">Tensors in file order.</param>
/// <param name="Metadata">The optional string map stored under <c>__metadata__</c>.</param>
/// <param name="DataStart">Absolute file offset of the data section.</param>
internal sealed record SafeTensorsHeader(IReadOnlyList<SafeTensorsEntry> Entries, IReadOnlyDictionary<string, string> Metadata, long DataStart);
