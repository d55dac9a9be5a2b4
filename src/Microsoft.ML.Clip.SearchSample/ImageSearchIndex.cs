using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Numerics.Tensors;
using System.Security.Cryptography;
using System.Text;
using System.Threading;
using System.Threading.Tasks;
using Microsoft.Extensions.AI;

namespace Microsoft.ML.Clip.SearchSample;

/// <summary>What a refresh did: files embedded (new or changed), dropped (deleted), kept, and refused (not readable as images).</summary>
public sealed record IndexRefresh(int Added, int Changed, int Removed, int Kept, IReadOnlyList<string> Refused);

/// <summary>One search result: a path relative to the image folder and its cosine similarity to the query.</summary>
public sealed record SearchHit(string Path, float Score);

/// <summary>
/// Exact image search over a folder with any image embedding generator: the embeddings of every image file, kept in
/// one row-major matrix and persisted to a file, refreshed incrementally (new and changed files embedded, deleted files
/// dropped, the rest kept without touching the model), and queried by one matrix product of the queries against all
/// rows. The file records the generator's model id and dimensions; an index of another model is rebuilt, not mixed.
/// </summary>
public sealed class ImageSearchIndex
{
    private const string Magic = "CLIPIDX1";

    /// <summary>File extensions the folder scan picks up (what SkiaSharp decodes).</summary>
    public static readonly IReadOnlySet<string> Extensions = new HashSet<string>(StringComparer.OrdinalIgnoreCase)
        { ".png", ".jpg", ".jpeg", ".webp", ".gif", ".bmp" };

    private readonly IEmbeddingGenerator<DataContent, Embedding<float>> _images;
    private readonly string _modelId;
    private List<Entry> _entries = [];
    private float[] _matrix = []; // row i: _entries[i]'s normalized embedding

    private sealed record Entry(string Path, long Length, long LastWriteTicks);

    private ImageSearchIndex(string folder, string indexFile, IEmbeddingGenerator<DataContent, Embedding<float>> images, int dimensions, string modelId)
    {
        Folder = folder;
        IndexFile = indexFile;
        _images = images;
        Dimensions = dimensions;
        _modelId = modelId;
    }

    /// <summary>The image folder (searched recursively).</summary>
    public string Folder { get; }

    /// <summary>Where the index is persisted.</summary>
    public string IndexFile { get; }

    /// <summary>Floats per embedding.</summary>
    public int Dimensions { get; }

    /// <summary>Images in the index.</summary>
    public int Count => _entries.Count;

    /// <summary>Why the persisted index was not used when <see cref="Open"/> read it (null: it was used, or there was none).</summary>
    public string? DiscardedBecause { get; private set; }

    /// <summary>
    /// The index file for <paramref name="folder"/> beside a model: <c>&lt;modelFolder&gt;/search-index/&lt;hash of the
    /// folder's full path&gt;.clipindex</c>, so one model can index several folders.
    /// </summary>
    public static string DefaultIndexFile(string modelFolder, string folder)
    {
        string key = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(Path.GetFullPath(folder))))[..16];
        return Path.Combine(modelFolder, "search-index", key + ".clipindex");
    }

    /// <summary>Opens the index of <paramref name="folder"/> persisted in <paramref name="indexFile"/>, or an empty one; call <see cref="RefreshAsync"/> next.</summary>
    public static ImageSearchIndex Open(string folder, string indexFile, IEmbeddingGenerator<DataContent, Embedding<float>> images)
    {
        var metadata = images.GetService<EmbeddingGeneratorMetadata>();
        int dimensions = metadata?.DefaultModelDimensions
            ?? throw new ArgumentException("The generator does not say its dimensions (EmbeddingGeneratorMetadata.DefaultModelDimensions).", nameof(images));
        var index = new ImageSearchIndex(Path.GetFullPath(folder), indexFile, images, dimensions, metadata.DefaultModelId ?? "");
        if (File.Exists(indexFile)) index.Read();
        return index;
    }

    /// <summary>
    /// Brings the index up to date with the folder: embeds new files and files whose size or modification time changed,
    /// drops deleted ones, keeps the rest, then persists the index (written to a temporary file and renamed). Files the
    /// generator refuses (corrupt, not images) are left out and listed; they are tried again at the next refresh.
    /// </summary>
    public async Task<IndexRefresh> RefreshAsync(CancellationToken cancellationToken = default)
    {
        var onDisk = Directory.EnumerateFiles(Folder, "*", SearchOption.AllDirectories)
            .Where(f => Extensions.Contains(Path.GetExtension(f)))
            .Select(f => new FileInfo(f))
            .ToDictionary(f => Path.GetRelativePath(Folder, f.FullName).Replace('\\', '/'), StringComparer.Ordinal);
        var kept = new List<(Entry Entry, int Row)>();
        var toEmbed = new List<Entry>();
        var known = _entries.Select((e, row) => (e, row)).ToDictionary(p => p.e.Path, StringComparer.Ordinal);
        foreach (var (path, file) in onDisk.OrderBy(p => p.Key, StringComparer.Ordinal))
        {
            var current = new Entry(path, file.Length, file.LastWriteTimeUtc.Ticks);
            if (known.TryGetValue(path, out var old) && old.e == current) kept.Add((current, old.row));
            else toEmbed.Add(current);
        }
        int removed = _entries.Count(e => !onDisk.ContainsKey(e.Path));
        var (added, vectors, refused) = await EmbedAsync(toEmbed, cancellationToken);

        var entries = new List<Entry>(kept.Count + added.Count);
        var matrix = new float[(kept.Count + added.Count) * Dimensions];
        foreach (var (entry, row) in kept)
        {
            _matrix.AsSpan(row * Dimensions, Dimensions).CopyTo(matrix.AsSpan(entries.Count * Dimensions));
            entries.Add(entry);
        }
        for (int i = 0; i < added.Count; i++)
        {
            vectors[i].CopyTo(matrix.AsSpan(entries.Count * Dimensions));
            entries.Add(added[i]);
        }
        (_entries, _matrix) = (entries, matrix);
        Write();
        int changed = added.Count(e => known.ContainsKey(e.Path));
        return new IndexRefresh(added.Count - changed, changed, removed, kept.Count, refused);
    }

    /// <summary>
    /// The <paramref name="top"/> best images for each query embedding (normalized vectors of the same model), best
    /// first: the scores of all queries against all images are one matrix product, [queries × D] · [D × images].
    /// </summary>
    public IReadOnlyList<SearchHit>[] Search(IReadOnlyList<ReadOnlyMemory<float>> queries, int top)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(top, 1);
        int n = _entries.Count;
        var scores = new float[queries.Count * n];
        for (int q = 0; q < queries.Count; q++)
        {
            var query = queries[q].Span;
            if (query.Length != Dimensions)
                throw new ArgumentException($"Query {q} has {query.Length} dimensions; the index holds {Dimensions}.", nameof(queries));
            for (int row = 0; row < n; row++)
                scores[q * n + row] = TensorPrimitives.Dot(query, _matrix.AsSpan(row * Dimensions, Dimensions));
        }
        return Enumerable.Range(0, queries.Count).Select(q => (IReadOnlyList<SearchHit>)Enumerable.Range(0, n)
            .OrderByDescending(row => scores[q * n + row]).ThenBy(row => _entries[row].Path, StringComparer.Ordinal)
            .Take(top).Select(row => new SearchHit(_entries[row].Path, scores[q * n + row])).ToList()).ToArray();
    }

    /// <summary>Embeds files in chunks; a file the generator refuses is left out (and listed) and the rest of its chunk retried.</summary>
    private async Task<(List<Entry> Added, List<float[]> Vectors, List<string> Refused)> EmbedAsync(List<Entry> files, CancellationToken cancellationToken)
    {
        var added = new List<Entry>();
        var vectors = new List<float[]>();
        var refused = new List<string>();
        foreach (var chunk in files.Chunk(64))
        {
            var pending = chunk.ToList();
            var contents = new List<DataContent>();
            foreach (var entry in pending)
                contents.Add(await DataContent.LoadFromAsync(Path.Combine(Folder, entry.Path), cancellationToken: cancellationToken));
            while (pending.Count > 0)
            {
                try
                {
                    var embeddings = await _images.GenerateAsync(contents, cancellationToken: cancellationToken);
                    added.AddRange(pending);
                    vectors.AddRange(embeddings.Select(e => Normalized(e.Vector.Span)));
                    break;
                }
                catch (ClipInputException bad) when (bad.Row < pending.Count)
                {
                    refused.Add(pending[(int)bad.Row].Path);
                    pending.RemoveAt((int)bad.Row);
                    contents.RemoveAt((int)bad.Row);
                }
            }
        }
        return (added, vectors, refused);
    }

    private static float[] Normalized(ReadOnlySpan<float> vector)
    {
        var result = vector.ToArray();
        float norm = TensorPrimitives.Norm(result);
        if (norm > 0) TensorPrimitives.Divide(result, norm, result);
        return result;
    }

    // Format: "CLIPIDX1", model id, dimensions, image folder, count, then per image: path, length, last-write ticks, D floats.
    private void Write()
    {
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(IndexFile))!);
        string temporary = IndexFile + ".tmp";
        using (var writer = new BinaryWriter(File.Create(temporary)))
        {
            writer.Write(Magic);
            writer.Write(_modelId);
            writer.Write(Dimensions);
            writer.Write(Folder);
            writer.Write(_entries.Count);
            for (int i = 0; i < _entries.Count; i++)
            {
                writer.Write(_entries[i].Path);
                writer.Write(_entries[i].Length);
                writer.Write(_entries[i].LastWriteTicks);
                foreach (float v in _matrix.AsSpan(i * Dimensions, Dimensions)) writer.Write(v);
            }
        }
        File.Move(temporary, IndexFile, overwrite: true);
    }

    private void Read()
    {
        try
        {
            using var reader = new BinaryReader(File.OpenRead(IndexFile));
            if (reader.ReadString() != Magic) { DiscardedBecause = "not an index file of this version"; return; }
            string modelId = reader.ReadString();
            int dimensions = reader.ReadInt32();
            string folder = reader.ReadString();
            if (modelId != _modelId || dimensions != Dimensions)
            {
                DiscardedBecause = $"it was built by model '{modelId}' ({dimensions} dimensions), not '{_modelId}' ({Dimensions})";
                return;
            }
            if (folder != Folder) { DiscardedBecause = $"it indexes '{folder}'"; return; }
            int count = reader.ReadInt32();
            var entries = new List<Entry>(count);
            var matrix = new float[count * dimensions];
            for (int i = 0; i < count; i++)
            {
                entries.Add(new Entry(reader.ReadString(), reader.ReadInt64(), reader.ReadInt64()));
                for (int j = 0; j < dimensions; j++) matrix[i * dimensions + j] = reader.ReadSingle();
            }
            (_entries, _matrix) = (entries, matrix);
        }
        catch (EndOfStreamException)
        {
            DiscardedBecause = "the file is truncated";
        }
    }
}
