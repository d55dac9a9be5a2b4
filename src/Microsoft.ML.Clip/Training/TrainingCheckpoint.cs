using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Text.Json;
using Microsoft.ML.Clip.Modeling;
using Microsoft.ML.Clip.Weights;
using static TorchSharp.torch;

namespace Microsoft.ML.Clip.Training;

/// <summary>Where a run stands: enough to continue it exactly.</summary>
/// <param name="Epoch">0-based epoch in progress.</param>
/// <param name="BatchesDoneInEpoch">Batches of that epoch already trained on.</param>
/// <param name="Step">Optimizer steps taken.</param>
internal sealed record TrainingPosition(int Epoch, long BatchesDoneInEpoch, long Step);

/// <summary>
/// Checkpoints of a training run in one folder: <c>checkpoint-&lt;step&gt;.safetensors</c> files holding the model
/// (<c>model.*</c>), the optimizer state (<c>optim.*</c>) and the objective's own tensors (<c>objective.*</c>),
/// with the position and the model config in the metadata. Each file is written atomically (temporary
/// file, flush to disk, rename), so a crash leaves the previous checkpoint intact; the newest few are kept.
/// </summary>
internal sealed class TrainingCheckpoints
{
    private const string Prefix = "checkpoint-";
    private const string Extension = ".safetensors";

    /// <summary>Uses <paramref name="directory"/> (created when missing), keeping the newest <paramref name="keep"/> files.</summary>
    public TrainingCheckpoints(string directory, int keep = 3)
    {
        if (keep < 1) throw new ArgumentOutOfRangeException(nameof(keep), keep, "At least one checkpoint must be kept.");
        Directory.CreateDirectory(directory);
        DirectoryPath = directory;
        Keep = keep;
    }

    /// <summary>The folder holding the <c>checkpoint-&lt;step&gt;.safetensors</c> files (created by the constructor).</summary>
    public string DirectoryPath { get; }

    /// <summary>How many of the newest checkpoints survive a save; older ones are deleted after the new one is complete.</summary>
    public int Keep { get; }

    /// <summary>Checkpoint files, newest first.</summary>
    public IReadOnlyList<string> Files() =>
        Directory.EnumerateFiles(DirectoryPath, Prefix + "*" + Extension)
            .Select(f => (Path: f, Step: ParseStep(f)))
            .Where(f => f.Step >= 0)
            .OrderByDescending(f => f.Step)
            .Select(f => f.Path)
            .ToList();

    /// <summary>Writes a checkpoint for <paramref name="position"/>, then deletes the oldest beyond <see cref="Keep"/>.</summary>
    public string Save(ClipModel model, AdamW optimizer, IReadOnlyDictionary<string, Tensor> objectiveState, TrainingPosition position)
    {
        string path = Path.Combine(DirectoryPath, $"{Prefix}{position.Step.ToString("D9", CultureInfo.InvariantCulture)}{Extension}");
        SafeTensors.Save(Contents(model, optimizer, objectiveState), path, Metadata(model, position));
        foreach (var old in Files().Skip(Keep))
            File.Delete(old);
        return path;
    }

    /// <summary>Writes the whole training state (what a checkpoint file holds) to <paramref name="stream"/>.</summary>
    public static void Write(Stream stream, ClipModel model, AdamW optimizer, IReadOnlyDictionary<string, Tensor> objectiveState, TrainingPosition position) =>
        SafeTensors.Save(Contents(model, optimizer, objectiveState), stream, Metadata(model, position));

    /// <summary>Reads a state written by <see cref="Write"/> (or a checkpoint file) into <paramref name="model"/> and <paramref name="optimizer"/>.</summary>
    public static (TrainingPosition Position, Dictionary<string, Tensor> ObjectiveState) Read(Stream stream, string source, ClipModel model, AdamW optimizer)
    {
        var header = SafeTensors.ReadHeader(stream, source);
        var position = header.Metadata.TryGetValue("clipmlnet.position", out var json) ? JsonSerializer.Deserialize<TrainingPosition>(json) : null;
        if (position is null) throw new InvalidDataException($"'{source}' has no training position in its metadata.");
        stream.Position = 0;
        return (position, Apply(SafeTensors.Load(stream, source), source, model, optimizer));
    }

    /// <summary>The tensors of a training state (<c>model.*</c>, <c>optim.*</c>, <c>objective.*</c>), as written to checkpoints.</summary>
    internal static List<KeyValuePair<string, Tensor>> Contents(ClipModel model, AdamW optimizer, IReadOnlyDictionary<string, Tensor> objectiveState) =>
        model.state_dict().Select(p => new KeyValuePair<string, Tensor>("model." + p.Key, p.Value))
            .Concat(optimizer.StateDict().Select(p => new KeyValuePair<string, Tensor>("optim." + p.Key, p.Value)))
            .Concat(objectiveState.Select(p => new KeyValuePair<string, Tensor>("objective." + p.Key, p.Value)))
            .ToList();

    /// <summary>Loads <see cref="Contents"/> into the model and optimizer; returns the objective's tensors.</summary>
    internal static Dictionary<string, Tensor> Apply(Dictionary<string, Tensor> tensors, string source, ClipModel model, AdamW optimizer)
    {
        using var scope = NewDisposeScope();
        ClipWeights.Load(model, StateDictLoader.WithPrefix(tensors, "model."), source);
        optimizer.LoadStateDict(StateDictLoader.WithPrefix(tensors, "optim."));
        return StateDictLoader.WithPrefix(tensors, "objective.").ToDictionary(p => p.Key, p => p.Value.DetachFromDisposeScope());
    }

    private static Dictionary<string, string> Metadata(ClipModel model, TrainingPosition position) => new()
    {
        ["format"] = "pt",
        ["clipmlnet.position"] = JsonSerializer.Serialize(position),
        [ClipWeights.ConfigMetadataKey] = model.Config.ToOpenClipJson(),
    };

    /// <summary>
    /// Restores the newest readable checkpoint into <paramref name="model"/> and <paramref name="optimizer"/>
    /// and returns its position with the objective's tensors, or null when the folder has none. A damaged
    /// newest file (e.g. from a full disk) is reported through <paramref name="warn"/> and the previous one used.
    /// </summary>
    public (TrainingPosition Position, Dictionary<string, Tensor> ObjectiveState)? TryRestoreLatest(ClipModel model, AdamW optimizer, Action<string>? warn = null)
    {
        foreach (var path in Files())
        {
            try
            {
                using var stream = File.OpenRead(path);
                return Read(stream, path, model, optimizer);
            }
            catch (Exception ex) when (ex is IOException or JsonException)
            {
                warn?.Invoke($"Skipping unreadable checkpoint '{path}': {ex.Message}");
            }
        }
        return null;
    }

    private static long ParseStep(string path)
    {
        string name = Path.GetFileNameWithoutExtension(path);
        return long.TryParse(name.AsSpan(Prefix.Length), NumberStyles.None, CultureInfo.InvariantCulture, out long step) ? step : -1;
    }
}
