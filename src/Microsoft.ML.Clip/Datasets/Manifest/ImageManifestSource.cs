using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using Microsoft.ML.Clip.Datasets.Common;
using Microsoft.ML.Data;

namespace Microsoft.ML.Clip.Datasets.Manifest;

/// <summary>Records of a CSV/TSV manifest: one per line, the image read from disk only when a cursor needs it.</summary>
internal sealed class ImageManifestSource : DatasetRecordSource
{
    private static readonly string[] Extras = [ClipDatasetColumns.Path];

    private readonly string _manifest;
    private readonly ImageManifestOptions _options;
    private readonly char _separator;
    private readonly string _imageFolder;
    private readonly int _pathIndex;
    private readonly int _captionIndex;

    public ImageManifestSource(string manifestPath, ImageManifestOptions options)
    {
        _manifest = Path.GetFullPath(manifestPath);
        if (!File.Exists(_manifest))
            throw new FileNotFoundException($"Manifest '{_manifest}' does not exist.", _manifest);
        _options = options;
        string extension = Path.GetExtension(_manifest).ToLowerInvariant();
        _separator = options.Separator ?? (extension is ".tsv" or ".tab" ? '\t' : ',');
        _imageFolder = Path.GetFullPath(options.ImageFolder ?? Path.GetDirectoryName(_manifest)!);

        List<string>? header = null;
        if (options.HasHeader)
        {
            using var reader = new StreamReader(_manifest);
            header = new CsvFieldReader(reader, _separator).Next(out string? problem);
            if (header is null || problem is not null)
                throw new ClipDatasetException(_manifest, "line 1", problem ?? "the file is empty: expected a header line");
        }
        _pathIndex = ResolveColumn(header, options.PathColumn, nameof(options.PathColumn));
        _captionIndex = ResolveColumn(header, options.CaptionColumn, nameof(options.CaptionColumn));
    }

    public override IReadOnlyList<string> ExtraColumns => Extras;

    /// <summary>True: a shuffled pass lists the manifest's records (paths and captions only) and permutes them all.</summary>
    public override bool PermutesRecords => true;

    public override IEnumerable<DatasetRecord> Enumerate(Random? rand, BadRecordHandler bad) => Permute(Read(bad), rand);

    /// <summary>The records in manifest order; the row id is the data line's index (bad lines included, so ids stay put).</summary>
    private IEnumerable<DatasetRecord> Read(BadRecordHandler bad)
    {
        using var reader = new StreamReader(_manifest);
        var csv = new CsvFieldReader(reader, _separator);
        if (_options.HasHeader)
            csv.Next(out _);
        long row = -1;
        int needed = Math.Max(_pathIndex, _captionIndex) + 1;
        while (csv.Next(out string? problem) is { } fields)
        {
            row++;
            string where = $"row {row} (line {csv.RecordLine})";
            if (problem is null && fields.Count < needed)
                problem = $"the line has {fields.Count} field(s); the path and caption need {needed} (separator '{Escape(_separator)}')";
            if (problem is null && fields[_pathIndex].Length == 0)
                problem = "the image path is empty";
            if (problem is not null)
            {
                bad.Handle(new ClipDatasetException(_manifest, where, problem));
                continue;
            }
            string relative = fields[_pathIndex];
            string full = Path.GetFullPath(Path.Combine(_imageFolder, relative));
            string caption = fields[_captionIndex];
            yield return new DatasetRecord(new DataViewRowId((ulong)row, 0), _manifest, $"{where}, image '{relative}'", null,
                () => File.ReadAllBytes(full), caption, [full]);
        }
    }

    private int ResolveColumn(List<string>? header, string column, string option)
    {
        if (int.TryParse(column, NumberStyles.None, CultureInfo.InvariantCulture, out int number))
            return number;
        if (header is null)
            throw new ArgumentException($"{option} '{column}' must be a 0-based column number when the manifest has no header.", option);
        int index = header.FindIndex(name => string.Equals(name, column, StringComparison.OrdinalIgnoreCase));
        if (index < 0)
            throw new ClipDatasetException(_manifest, "line 1", $"the header has no column '{column}' ({option}); it has: {string.Join(", ", header)}");
        return index;
    }

    private static string Escape(char c) => c == '\t' ? "\\t" : c.ToString();
}
