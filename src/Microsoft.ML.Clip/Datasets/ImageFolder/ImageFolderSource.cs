using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using Microsoft.ML.Clip.Datasets.Common;
using Microsoft.ML.Data;

namespace Microsoft.ML.Clip.Datasets.ImageFolder;

/// <summary>
/// Records of a folder per class. The file list (paths only) is taken when the view is made, so the row count
/// is known and a shuffling cursor can permute all files; images are read when a cursor reaches them.
/// </summary>
internal sealed class ImageFolderSource : DatasetRecordSource
{
    private static readonly string[] Extras = [ClipDatasetColumns.Label, ClipDatasetColumns.Path];

    private readonly (string Path, int Class)[] _files;
    private readonly string[] _classes;
    private readonly string[] _captions;

    public ImageFolderSource(string root, ImageFolderOptions options)
    {
        root = Path.GetFullPath(root);
        if (!Directory.Exists(root))
            throw new DirectoryNotFoundException($"Image folder '{root}' does not exist.");
        if (!options.CaptionTemplate.Contains("{}", StringComparison.Ordinal))
            throw new ArgumentException($"The caption template '{options.CaptionTemplate}' has no '{{}}' for the class name.", nameof(options));
        var extensions = new HashSet<string>(options.Extensions.Select(e => e.StartsWith('.') ? e : "." + e), StringComparer.OrdinalIgnoreCase);
        _classes = Directory.GetDirectories(root).Select(Path.GetFileName).OfType<string>().Order(StringComparer.Ordinal).ToArray();
        if (_classes.Length == 0)
            throw new ClipDatasetException(root, null, "the folder has no class subfolders (expected root/<class>/<image>)");
        _captions = _classes.Select(name => options.CaptionTemplate.Replace("{}",
            options.SpacesForUnderscores ? name.Replace('_', ' ').Replace('-', ' ') : name, StringComparison.Ordinal)).ToArray();
        var files = new List<(string, int)>();
        for (int c = 0; c < _classes.Length; c++)
        {
            foreach (string file in Directory.EnumerateFiles(Path.Combine(root, _classes[c]), "*", SearchOption.AllDirectories)
                         .Where(f => extensions.Contains(Path.GetExtension(f))).Order(StringComparer.Ordinal))
                files.Add((file, c));
        }
        _files = files.ToArray();
    }

    public override IReadOnlyList<string> ExtraColumns => Extras;

    public override long? Count => _files.Length;

    public IReadOnlyList<string> Classes => _classes;

    /// <summary>True: the file list is known, so a shuffled pass permutes all files.</summary>
    public override bool PermutesRecords => true;

    public override IEnumerable<DatasetRecord> Enumerate(Random? rand, BadRecordHandler bad)
    {
        int[] order = Enumerable.Range(0, _files.Length).ToArray();
        if (rand is not null)
            rand.Shuffle(order);
        foreach (int i in order)
        {
            var (path, c) = _files[i];
            yield return new DatasetRecord(new DataViewRowId((ulong)i, 0), path, $"class '{_classes[c]}'", null, () => File.ReadAllBytes(path), _captions[c], [_classes[c], path]);
        }
    }
}
