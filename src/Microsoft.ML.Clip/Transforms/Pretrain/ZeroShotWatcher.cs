using System;
using System.Collections.Generic;
using System.Linq;
using Microsoft.ML.Clip.Imaging;
using Microsoft.ML.Clip.Transforms.Clip;
using Microsoft.ML.Data;
using Microsoft.ML.Runtime;

namespace Microsoft.ML.Clip.Transforms.Pretrain;

/// <summary>
/// ClipPretrain's watched zero-shot sets: each evaluation runs the library's zero-shot stage
/// (<see cref="ClipZeroShotTransformer"/>) with the bundle's current weights over a set and counts the images whose
/// predicted class name equals their label, so the figures are those a <c>ClipZeroShot</c> stage gives the same model.
/// </summary>
internal sealed class ZeroShotWatcher
{
    private const string ScoreColumn = "ZeroShotWatcher.Score", PredictedColumn = "ZeroShotWatcher.PredictedLabel";
    private readonly IHostEnvironment _env;
    private readonly IReadOnlyList<ClipZeroShotEvaluationSet> _sets;
    private readonly int _batchSize;

    private ZeroShotWatcher(IHostEnvironment env, IReadOnlyList<ClipZeroShotEvaluationSet> sets, int batchSize)
    {
        _env = env;
        _sets = sets;
        _batchSize = batchSize;
    }

    /// <summary>The watcher of <paramref name="options"/>' sets (their columns checked; names and classes were when the options were), or null when none are given.</summary>
    public static ZeroShotWatcher? Create(IHostEnvironment env, ClipPretrainOptions options, ClipModelBundle bundle)
    {
        var sets = options.ZeroShotEvaluations.ToList();
        if (sets.Count == 0) return null;
        foreach (var set in sets)
        {
            ImageInput.Bind(set.Data.Schema, set.ImageColumnName, new ClipImagePreprocessor(bundle.Preprocessing));
            if (set.Data.Schema.GetColumnOrNull(set.LabelColumnName) is not { } label || label.Type is not TextDataViewType)
                throw new ArgumentException($"The zero-shot evaluation set '{set.Name}' needs a text label column '{set.LabelColumnName}' (class names).", nameof(options));
        }
        return new ZeroShotWatcher(env, sets, options.InferenceBatchSize);
    }

    /// <summary>Zero-shot accuracy of <paramref name="bundle"/> on every set, by name.</summary>
    public IReadOnlyList<(string Set, double Accuracy)> Evaluate(ClipModelBundle bundle) =>
        _sets.Select(set => (set.Name, Accuracy(bundle, set))).ToList();

    private double Accuracy(ClipModelBundle bundle, ClipZeroShotEvaluationSet set)
    {
        var stage = new ClipZeroShotTransformer(_env, bundle, set.ImageColumnName, set.ClassNames, set.Templates, ScoreColumn, PredictedColumn, _batchSize);
        var scored = stage.Transform(set.Data);
        var predictedColumn = scored.Schema[PredictedColumn];
        var labelColumn = scored.Schema[set.LabelColumnName];
        using var cursor = scored.GetRowCursor([predictedColumn, labelColumn]);
        var getPredicted = cursor.GetGetter<uint>(predictedColumn);
        var getLabel = cursor.GetGetter<ReadOnlyMemory<char>>(labelColumn);
        var classes = set.ClassNames.Select((name, i) => (name, i)).ToDictionary(p => p.name, p => (uint)p.i + 1); // keys are 1-based
        uint predicted = 0;
        ReadOnlyMemory<char> label = default;
        long rows = 0, correct = 0;
        while (cursor.MoveNext())
        {
            getPredicted(ref predicted);
            getLabel(ref label);
            string name = label.ToString();
            if (!classes.TryGetValue(name, out uint key))
                throw new InvalidOperationException($"Row {rows} of the zero-shot evaluation set '{set.Name}' is labelled '{name}', which is not one of its {set.ClassNames.Count} class names.");
            if (key == predicted) correct++;
            rows++;
        }
        if (rows == 0) throw new InvalidOperationException($"The zero-shot evaluation set '{set.Name}' has no rows.");
        return (double)correct / rows;
    }
}
