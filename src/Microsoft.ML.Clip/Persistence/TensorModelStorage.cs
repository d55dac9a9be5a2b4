using System.Collections.Generic;
using System.IO;
using Microsoft.ML.Clip.Weights;
using TorchSharp;

namespace Microsoft.ML.Clip.Persistence;

/// <summary>
/// Stores TorchSharp tensors inside an ML.NET model zip, as a safetensors entry of the component's folder.
/// safetensors rather than TorchSharp's own format: it is validated before anything is allocated (model
/// files come from strangers), and the entry can be read by any safetensors tool.
/// </summary>
internal static class TensorModelStorage
{
    /// <summary>Writes <paramref name="tensors"/> to the binary entry <paramref name="entryName"/>.</summary>
    public static void SaveTensors(this ModelSaveContext ctx, string entryName, IEnumerable<KeyValuePair<string, torch.Tensor>> tensors,
        IReadOnlyDictionary<string, string>? metadata = null)
    {
        ctx.SaveBinaryStream(entryName, writer =>
        {
            writer.Flush();
            SafeTensors.Save(tensors, writer.BaseStream, metadata);
        });
    }

    /// <summary>Reads the tensors of the binary entry <paramref name="entryName"/>; fails clearly when it is absent or corrupt.</summary>
    public static Dictionary<string, torch.Tensor> LoadTensors(this ModelLoadContext ctx, string entryName)
    {
        Dictionary<string, torch.Tensor>? result = null;
        bool found = ctx.TryLoadBinaryStream(entryName, reader =>
        {
            // Zip entry streams cannot seek; the safetensors reader validates offsets against the length first.
            using var buffer = new MemoryStream();
            reader.BaseStream.CopyTo(buffer);
            buffer.Position = 0;
            result = SafeTensors.Load(buffer, $"{ctx.Directory}/{entryName}");
        });
        if (!found || result is null)
            throw new InvalidDataException($"The model has no tensor entry '{entryName}' in '{ctx.Directory}'; it was not saved by this library or is damaged.");
        return result;
    }
}
