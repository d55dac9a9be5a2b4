using System;
using System.Collections.Generic;
using System.Formats.Tar;
using System.IO;
using System.Linq;
using System.Text;
using Microsoft.ML.Clip.Datasets.Common;
using Microsoft.ML.Data;

namespace Microsoft.ML.Clip.Datasets.WebDataset;

/// <summary>
/// Records of WebDataset tar shards, read forward-only with <see cref="TarReader"/>: consecutive members with the
/// same key (the member name up to the first dot of its file name) make one sample.
/// </summary>
internal sealed class WebDatasetSource : DatasetRecordSource
{
    private static readonly string[] Extras = [ClipDatasetColumns.Key, ClipDatasetColumns.Source, ClipDatasetColumns.Json];

    private readonly string[] _shards;
    private readonly WebDatasetOptions _options;
    private readonly string[] _imageExtensions;

    public WebDatasetSource(IEnumerable<string> shards, WebDatasetOptions options)
    {
        _shards = shards.Select(Path.GetFullPath).ToArray();
        if (_shards.Length == 0)
            throw new ArgumentException("No shards given.", nameof(shards));
        foreach (string shard in _shards)
            if (!File.Exists(shard))
                throw new FileNotFoundException($"Shard '{shard}' does not exist.", shard);
        _options = options;
        _imageExtensions = options.ImageExtensions.Select(e => e.TrimStart('.').ToLowerInvariant()).ToArray();
    }

    public override IReadOnlyList<string> ExtraColumns => Extras;

    public IReadOnlyList<string> Shards => _shards;

    public override IEnumerable<DatasetRecord> Enumerate(Random? rand, BadRecordHandler bad)
    {
        int[] order = Enumerable.Range(0, _shards.Length).ToArray();
        if (rand is not null)
            rand.Shuffle(order);
        foreach (int shard in order)
            foreach (var record in ReadShard(shard, bad))
                yield return record;
    }

    /// <summary>The samples of one shard; a sample's row id is (its index in the shard, the shard's index + 1).</summary>
    private IEnumerable<DatasetRecord> ReadShard(int shardIndex, BadRecordHandler bad)
    {
        string shard = _shards[shardIndex];
        ulong sample = 0;
        DataViewRowId NextId() => new(sample++, (ulong)shardIndex + 1);
        using var stream = new FileStream(shard, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.SequentialScan);
        using var reader = new TarReader(stream, leaveOpen: false);
        string? key = null;
        var members = new Dictionary<string, (string Name, byte[] Data)>(StringComparer.OrdinalIgnoreCase);
        string? lastEntry = null;
        while (true)
        {
            var (name, data, error) = NextMember(reader, shard, lastEntry);
            if (error is not null)
            {
                // The members read so far are whole: finish their sample, then report the rest of the shard as one bad record.
                if (key is not null && Assemble(NextId(), shard, key, members, bad, quiet: true) is { } pending)
                    yield return pending;
                bad.Handle(error);
                yield break;
            }
            if (name is null)
                break;
            lastEntry = name;
            SplitKey(name, out string memberKey, out string extension);
            if (key is not null && memberKey != key)
            {
                if (Assemble(NextId(), shard, key, members, bad) is { } record)
                    yield return record;
                members.Clear();
            }
            key = memberKey;
            members.TryAdd(extension, (name, data!));
        }
        if (key is not null && Assemble(NextId(), shard, key, members, bad) is { } last)
            yield return last;
    }

    /// <summary>The next regular file member and its bytes; (null, null, null) at the end; an error for a truncated or malformed tar.</summary>
    private static (string? Name, byte[]? Data, ClipDatasetException? Error) NextMember(TarReader reader, string shard, string? lastEntry)
    {
        string where = lastEntry is null ? "at the first entry" : $"after entry '{lastEntry}'";
        try
        {
            while (reader.GetNextEntry(copyData: false) is { } entry)
            {
                if (entry.EntryType is not (TarEntryType.RegularFile or TarEntryType.V7RegularFile or TarEntryType.ContiguousFile))
                    continue;
                var data = new byte[checked((int)entry.Length)];
                if (entry.DataStream is { } content)
                {
                    try
                    {
                        content.ReadExactly(data);
                    }
                    catch (EndOfStreamException e)
                    {
                        return (null, null, new ClipDatasetException(shard, $"entry '{entry.Name}'",
                            $"the tar is truncated: the entry should hold {entry.Length} bytes", e));
                    }
                }
                return (entry.Name, data, null);
            }
            return (null, null, null);
        }
        catch (Exception e) when (e is InvalidDataException or EndOfStreamException or FormatException or IOException or OverflowException)
        {
            return (null, null, new ClipDatasetException(shard, where, $"the tar is truncated or malformed ({e.Message})", e));
        }
    }

    /// <summary>WebDataset's convention: the key is the path up to the first dot of the file name; the extension is the rest.</summary>
    private static void SplitKey(string name, out string key, out string extension)
    {
        int slash = name.LastIndexOf('/');
        int dot = name.IndexOf('.', slash + 1);
        key = dot < 0 ? name : name[..dot];
        extension = dot < 0 ? "" : name[(dot + 1)..].ToLowerInvariant();
    }

    /// <summary>The sample of one key; a sample without image or caption is a bad record (or, when <paramref name="quiet"/>, just dropped).</summary>
    private DatasetRecord? Assemble(DataViewRowId id, string shard, string key, Dictionary<string, (string Name, byte[] Data)> members, BadRecordHandler bad,
        bool quiet = false)
    {
        string where = $"sample '{key}'";
        (string Name, byte[] Data)? image = null;
        foreach (string extension in _imageExtensions)
        {
            if (members.TryGetValue(extension, out var member))
            {
                image = member;
                break;
            }
        }
        if (quiet && (image is null || !members.ContainsKey(_options.CaptionExtension)))
            return null;
        if (image is null)
        {
            bad.Handle(new ClipDatasetException(shard, where,
                $"no image member (expected {string.Join(", ", _imageExtensions.Select(e => $"'{key}.{e}'"))}; found {Found(members)})"));
            return null;
        }
        if (!members.TryGetValue(_options.CaptionExtension, out var caption))
        {
            bad.Handle(new ClipDatasetException(shard, where,
                $"image '{image.Value.Name}' has no caption member '{key}.{_options.CaptionExtension}' (found {Found(members)})"));
            return null;
        }
        string json = members.TryGetValue(_options.JsonExtension, out var meta) ? Decode(meta.Data) : "";
        return new DatasetRecord(id, shard, $"{where}, entry '{image.Value.Name}'", image.Value.Data, null,
            Decode(caption.Data).Trim(), [key, shard, json]);
    }

    private static string Found(Dictionary<string, (string Name, byte[] Data)> members) =>
        string.Join(", ", members.Values.Select(m => $"'{m.Name}'"));

    private static string Decode(byte[] bytes) => new UTF8Encoding(false).GetString(bytes).TrimStart('\uFEFF');
}
