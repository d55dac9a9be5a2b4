using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using Microsoft.ML.Clip.Modeling;
using Microsoft.ML.Clip.Weights;
using static TorchSharp.torch;

namespace Microsoft.ML.Clip.Training;

/// <summary>
/// The weights of the best evaluation so far (highest score) and, with a checkpoint folder, the same as
/// <c>best-zero-shot.safetensors</c> there (step and score in its metadata), so a resumed run keeps comparing against
/// the best of the runs before.
/// </summary>
internal sealed class BestWeights : IDisposable
{
    public const string FileName = "best-zero-shot.safetensors";
    private const string StepKey = "clip_best_step", ScoreKey = "clip_best_score";

    private readonly string? _path;
    private Dictionary<string, Tensor>? _snapshot;

    /// <summary>Keeps the best weights in memory and, when <paramref name="folder"/> is given, in that folder (an earlier run's file is read).</summary>
    public BestWeights(string? folder)
    {
        if (folder is null) return;
        _path = Path.Combine(folder, FileName);
        if (!File.Exists(_path)) return;
        using var stream = File.OpenRead(_path);
        var metadata = SafeTensors.ReadHeader(stream, _path).Metadata;
        if (metadata.TryGetValue(StepKey, out var step) && metadata.TryGetValue(ScoreKey, out var score))
        {
            Step = long.Parse(step, CultureInfo.InvariantCulture);
            Score = double.Parse(score, CultureInfo.InvariantCulture);
        }
    }

    /// <summary>Step of the best evaluation, or null before any.</summary>
    public long? Step { get; private set; }

    /// <summary>The best score so far (NaN before any).</summary>
    public double Score { get; private set; } = double.NaN;

    /// <summary>Keeps <paramref name="model"/>'s weights when <paramref name="score"/> beats the best so far; returns whether it did.</summary>
    public bool Offer(ClipModel model, long step, double score)
    {
        if (!double.IsNaN(Score) && !(score > Score)) return false;
        Step = step;
        Score = score;
        Dispose();
        using (var scope = NewDisposeScope())
            _snapshot = model.state_dict().ToDictionary(p => p.Key, p => p.Value.detach().cpu().clone().DetachFromDisposeScope());
        if (_path is not null)
            SafeTensors.Save(_snapshot, _path, new Dictionary<string, string>
            {
                ["format"] = "pt",
                [ClipWeights.ConfigMetadataKey] = model.Config.ToOpenClipJson(),
                [StepKey] = step.ToString(CultureInfo.InvariantCulture),
                [ScoreKey] = score.ToString("R", CultureInfo.InvariantCulture),
            });
        return true;
    }

    /// <summary>Loads the best weights into <paramref name="model"/> (from memory, or from an earlier run's file); false when there are none.</summary>
    public bool Restore(ClipModel model)
    {
        if (_snapshot is not null)
        {
            ClipWeights.Load(model, _snapshot, "the best zero-shot weights");
            return true;
        }
        if (Step is null || _path is null) return false;
        ClipWeights.Load(model, _path);
        return true;
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        if (_snapshot is null) return;
        foreach (var t in _snapshot.Values) t.Dispose();
        _snapshot = null;
    }
}
