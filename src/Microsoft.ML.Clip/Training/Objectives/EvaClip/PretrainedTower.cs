using System;
using System.Collections.Generic;
using System.Linq;
using System.Text;
using Microsoft.ML.Clip.Modeling;
using Microsoft.ML.Clip.Weights;
using static TorchSharp.torch;

namespace Microsoft.ML.Clip.Training.Objectives.EvaClip;

/// <summary>
/// Where a tower's starting weights come from: EVA-CLIP initialises its image tower from a pretrained EVA
/// (MIM) encoder and its text tower from a pretrained CLIP text encoder rather than from random values.
/// Either a safetensors file (open_clip layout, as <see cref="ClipWeights.Save"/> writes, or Hugging Face's
/// <c>CLIPModel</c> layout) or a loaded <see cref="ClipModel"/> (a bundle's <c>Model</c>). Only the chosen tower's tensors are
/// copied, strictly: every parameter of the tower must be present with its shape, and nothing else of the tower.
/// </summary>
public sealed class PretrainedTower
{
    private readonly string? _path;
    private readonly ClipModel? _model;

    private PretrainedTower(string? path, ClipModel? model)
    {
        _path = path;
        _model = model;
    }

    /// <summary>Weights from a safetensors file.</summary>
    public static PretrainedTower FromSafetensors(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        return new PretrainedTower(path, null);
    }

    /// <summary>Weights of <paramref name="model"/> (read when training starts), e.g. a loaded bundle's <c>Model</c>.</summary>
    public static PretrainedTower FromModel(ClipModel model)
    {
        ArgumentNullException.ThrowIfNull(model);
        return new PretrainedTower(null, model);
    }

    /// <summary>Describes the source for messages.</summary>
    public override string ToString() => _path is not null ? $"'{_path}'" : "the given ClipModel";

    /// <summary>
    /// Copies the <paramref name="tower"/> tensors of the source into <paramref name="model"/> (names of
    /// <see cref="ClipModel"/>'s state dict, converted to its dtype and device); the rest of the model is untouched.
    /// </summary>
    /// <exception cref="StateDictMismatchException">The source's tower does not match the model's exactly.</exception>
    internal void LoadInto(ClipModel model, ClipTower tower)
    {
        ArgumentNullException.ThrowIfNull(model);
        if (tower == ClipTower.Shared) throw new ArgumentException("Only the image or the text tower can be initialised.", nameof(tower));
        using var scope = NewDisposeScope(); // frees the file's tensors and any converted copies
        IReadOnlyDictionary<string, Tensor> source = _model is not null ? _model.state_dict() : SafeTensors.Load(_path!);
        if (HuggingFaceClipConverter.IsHuggingFaceLayout(source.Keys))
            source = HuggingFaceClipConverter.ToOpenClip(source);
        LoadStrict(model, source, tower, ToString());
    }

    /// <summary>The strict, tower-restricted copy (see <see cref="LoadInto"/>).</summary>
    internal static void LoadStrict(ClipModel model, IReadOnlyDictionary<string, Tensor> source, ClipTower tower, string sourceName)
    {
        var target = model.state_dict().Where(p => LayerwiseLearningRates.TowerOf(p.Key) == tower).ToDictionary(p => p.Key, p => p.Value);
        var offered = source.Where(p => LayerwiseLearningRates.TowerOf(p.Key) == tower).ToDictionary(p => p.Key, p => p.Value);
        var missing = target.Keys.Where(k => !offered.ContainsKey(k)).ToList();
        var unexpected = offered.Keys.Where(k => !target.ContainsKey(k)).ToList();
        var mismatched = target.Where(p => offered.TryGetValue(p.Key, out var s) && !s.shape.SequenceEqual(p.Value.shape)).Select(p => p.Key).ToList();
        if (target.Count == 0 || missing.Count + unexpected.Count + mismatched.Count > 0)
        {
            var message = new StringBuilder($"Cannot initialise the {tower.ToString().ToLowerInvariant()} tower from {sourceName}: it does not match the model's tower exactly.");
            if (missing.Count > 0) message.Append("\nMissing from the source: ").Append(string.Join(", ", missing.Take(20)));
            if (unexpected.Count > 0) message.Append("\nUnexpected in the source: ").Append(string.Join(", ", unexpected.Take(20)));
            foreach (var name in mismatched.Take(20))
                message.Append($"\nWrong shape: {name} [{string.Join(", ", offered[name].shape)}] in the source, [{string.Join(", ", target[name].shape)}] in the model");
            throw new StateDictMismatchException(message.ToString(), missing, unexpected, mismatched);
        }
        using var noGrad = no_grad();
        foreach (var (name, dest) in target)
            dest.copy_(offered[name]);
    }
}
