using System;
using TorchSharp;

namespace Microsoft.ML.Clip.Weights;

/// <summary>Maps safetensors dtype names to TorchSharp scalar types and element sizes.</summary>
internal static class SafeTensorsDType
{
    public static bool TryParse(string name, out torch.ScalarType type, out int elementSize)
    {
        (type, elementSize) = name switch
        {
            "F64" => (torch.ScalarType.Float64, 8),
            "F32" => (torch.ScalarType.Float32, 4),
            "F16" => (torch.ScalarType.Float16, 2),
            "BF16" => (torch.ScalarType.BFloat16, 2),
            "I64" => (torch.ScalarType.Int64, 8),
            "I32" => (torch.ScalarType.Int32, 4),
            "I16" => (torch.ScalarType.Int16, 2),
            "I8" => (torch.ScalarType.Int8, 1),
            "U8" => (torch.ScalarType.Byte, 1),
            "BOOL" => (torch.ScalarType.Bool, 1),
            _ => (torch.ScalarType.Float32, 0),
        };
        return elementSize != 0;
    }

    public static string Name(torch.ScalarType type) => type switch
    {
        torch.ScalarType.Float64 => "F64",
        torch.ScalarType.Float32 => "F32",
        torch.ScalarType.Float16 => "F16",
        torch.ScalarType.BFloat16 => "BF16",
        torch.ScalarType.Int64 => "I64",
        torch.ScalarType.Int32 => "I32",
        torch.ScalarType.Int16 => "I16",
        torch.ScalarType.Int8 => "I8",
        torch.ScalarType.Byte => "U8",
        torch.ScalarType.Bool => "BOOL",
        _ => throw new NotSupportedException($"Tensors of type {type} cannot be stored in safetensors by this library."),
    };
}
