using System;
using Microsoft.ML.Clip.Datasets;
using Microsoft.ML.Data;
using Microsoft.ML.Runtime;
using Microsoft.ML.Transforms.Image;

namespace Microsoft.ML.Clip.Transforms.Pretrain;

/// <summary>
/// The order ClipPretrain reads its training rows in, epoch by epoch. Contrastive learning takes its negatives
/// from the batch, so a batch must be a random sample of the data: on a manifest written in folder order, a
/// buffer over the stored order fills each batch with one or two classes. Every epoch is a fresh permutation
/// seeded by (seed, epoch), the same on every process of a data-parallel job and after a resume:
/// <list type="bullet">
/// <item>views that can shuffle (this library's loaders, ML.NET's caches and in-memory lists) permute their rows
/// themselves, reading images lazily; streaming-only formats (WebDataset shards, Parquet with several row groups)
/// can only permute shards or row groups and mix records through their shuffle buffer, and a warning says so when
/// that buffer is smaller than the data;</item>
/// <item>other views (ML.NET's text loader, <c>LoadFromEnumerable</c>) go through ML.NET's shuffle pool of
/// <see cref="ClipPretrainOptions.ShufflePoolSize"/> rows, with a warning when the pool is smaller than the data;</item>
/// <item>with <see cref="ClipPretrainOptions.Shuffle"/> off, the stored order.</item>
/// </list>
/// </summary>
internal sealed class EpochOrder
{
    private readonly IHostEnvironment _env;
    private readonly IDataView _train;
    private readonly ClipPretrainOptions _options;
    private readonly Mode _mode;

    private enum Mode { Stored, Source, Pool }

    private EpochOrder(IHostEnvironment env, IDataView train, ClipPretrainOptions options, Mode mode)
    {
        _env = env;
        _train = train;
        _options = options;
        _mode = mode;
    }

    /// <summary>Chooses how to shuffle <paramref name="train"/> (<paramref name="rows"/> rows) and logs what was chosen and what it falls short of.</summary>
    public static EpochOrder Choose(IHostEnvironment env, IDataView train, long rows, ClipPretrainOptions options, IChannel? log)
    {
        if (!options.Shuffle)
        {
            log?.Info("ClipPretrain reads the training rows in stored order (Shuffle = false).");
            return new EpochOrder(env, train, options, Mode.Stored);
        }
        if (train.CanShuffle)
        {
            if (StreamingShuffle(train, rows) is { } warning)
                log?.Warning(warning);
            return new EpochOrder(env, train, options, Mode.Source);
        }
        if (!CanPool(train, options))
        {
            log?.Warning($"ClipPretrain cannot shuffle the training data: its loader has no random access and column " +
                $"'{options.ImageColumnName}' (MLImage) cannot be held in a shuffle pool, so every epoch reads the stored order. " +
                "Cache the rows before LoadImages (mlContext.Data.Cache) or load encoded bytes (LoadRawImageBytes) to shuffle.");
            return new EpochOrder(env, train, options, Mode.Stored);
        }
        if (options.ShufflePoolSize < rows)
            log?.Warning($"The training data's loader cannot shuffle ({train.GetType().Name}), so each epoch goes through a shuffle pool " +
                $"of {options.ShufflePoolSize:N0} rows (ShufflePoolSize) over {rows:N0} rows in stored order: a batch only mixes rows " +
                "that are stored near each other. For a random permutation every epoch, cache the rows that name the images " +
                "(mlContext.Data.Cache before LoadRawImageBytes / LoadImages), use mlContext.Data.LoadFromImageManifest, or raise ShufflePoolSize.");
        return new EpochOrder(env, train, options, Mode.Pool);
    }

    /// <summary>The view and generator that give epoch <paramref name="epoch"/>'s order (no generator: stored order).</summary>
    public (IDataView View, Random? Random) For(int epoch)
    {
        int seed = unchecked(_options.Seed * 1000 + epoch);
        return _mode switch
        {
            Mode.Source => (_train, new Random(seed)),
            Mode.Pool => (new DataOperationsCatalog(_env).ShuffleRows(_train, seed: seed, shufflePoolSize: _options.ShufflePoolSize), null),
            _ => (_train, null),
        };
    }

    private static bool CanPool(IDataView train, ClipPretrainOptions options) =>
        train.Schema.GetColumnOrNull(options.ImageColumnName)?.Type is not ImageDataViewType;

    /// <summary>A warning when the data comes from a loader whose shuffle is a buffer smaller than the data; otherwise null.</summary>
    private static string? StreamingShuffle(IDataView train, long rows)
    {
        if (Root(train) is not ClipDatasetView { Source.PermutesRecords: false } view || view.Options.ShuffleBufferSize >= rows)
            return null;
        return $"The training data ({view.Source.GetType().Name.Replace("Source", "")}) can only be shuffled by its files, shards or " +
            $"row groups and a buffer of {view.Options.ShuffleBufferSize:N0} records (ShuffleBufferSize) over {rows:N0} rows: " +
            "a batch mixes records stored near each other. Unless the records were written in random order, raise the loader's " +
            "ShuffleBufferSize (it holds that many encoded images in memory) or write the shards in random order.";
    }

    /// <summary>The view at the bottom of a chain of transforms and splits.</summary>
    private static IDataView Root(IDataView view)
    {
        while (true)
        {
            switch (view)
            {
                case IDataTransform transform: view = transform.Source; break;
                case RowIdSplitView split: view = split.Source; break;
                default: return view;
            }
        }
    }
}
