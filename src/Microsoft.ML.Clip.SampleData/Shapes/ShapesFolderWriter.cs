using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Text;
using System.Threading.Tasks;
using Microsoft.ML.Clip.IO;

namespace Microsoft.ML.Clip.SampleData.Shapes;

/// <summary>Writes examples as PNG files under <c>images/</c> plus a <c>manifest.csv</c> describing them.</summary>
internal static class ShapesFolderWriter
{
    public const string ImagesFolder = "images";

    public const string ManifestHeader = "path,caption,label,shape,colour,size,position";

    /// <summary>
    /// Writes every batch's images (in parallel within a batch) and one manifest line per example, in order.
    /// The manifest is written last and atomically, so its presence means that every image it names is there.
    /// </summary>
    public static string Write(string folder, IEnumerable<ShapeExample[]> batches)
    {
        ArgumentException.ThrowIfNullOrEmpty(folder);
        string root = Path.GetFullPath(folder);
        Directory.CreateDirectory(Path.Combine(root, ImagesFolder));
        string manifest = Path.Combine(root, ShapesDataset.ManifestFileName);
        AtomicFile.Write(manifest, stream =>
        {
            using var writer = new StreamWriter(stream, new UTF8Encoding(encoderShouldEmitUTF8Identifier: false), 1 << 16, leaveOpen: true)
            {
                NewLine = "\n",
            };
            writer.WriteLine(ManifestHeader);
            long ordinal = 0;
            foreach (var batch in batches)
            {
                long first = ordinal;
                Parallel.For(0, batch.Length, i =>
                    File.WriteAllBytes(Path.Combine(root, RelativePath(first + i)), batch[i].ImageBytes));
                foreach (var example in batch)
                    writer.WriteLine(Line(RelativePath(ordinal++), example));
            }
        });
        return manifest;
    }

    /// <summary>The image's path relative to the manifest, with '/' on every OS (Path.Combine accepts it everywhere).</summary>
    public static string RelativePath(long ordinal) =>
        ImagesFolder + "/" + ordinal.ToString("D6", CultureInfo.InvariantCulture) + ".png";

    private static string Line(string path, ShapeExample example) => string.Join(',',
        Field(path), Field(example.Caption), Field(example.Label), Field(ShapesVocabulary.Name(example.Shape)),
        Field(ShapesVocabulary.Name(example.Colour)), Field(ShapesVocabulary.Name(example.Size)),
        Field(ShapesVocabulary.Name(example.Position)));

    /// <summary>RFC 4180 quoting: a field with a comma, quote or line break is quoted and its quotes doubled.</summary>
    public static string Field(string value) =>
        value.AsSpan().IndexOfAny(",\"\r\n") < 0 && (value.Length == 0 || (value[0] != ' ' && value[^1] != ' '))
            ? value
            : "\"" + value.Replace("\"", "\"\"") + "\"";
}
