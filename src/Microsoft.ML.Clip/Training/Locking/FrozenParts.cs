using System;
using System.Collections.Generic;
using System.Linq;
using Microsoft.ML.Clip.Modeling;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Microsoft.ML.Clip.Training.Locking;

/// <summary>
/// The locked parameters of a model (those with <c>requires_grad</c> false) and the modules made only of them, read
/// from the model itself so that the trainer, the objectives' momentum copies and the data-parallel reducer agree.
/// </summary>
internal sealed class FrozenParts
{
    private readonly HashSet<string> _parameters;
    private readonly HashSet<string> _modules;       // every module whose parameters are all locked
    private readonly List<string> _outermost;        // those not inside another one

    private FrozenParts(HashSet<string> parameters, HashSet<string> modules)
    {
        _parameters = parameters;
        _modules = modules;
        _outermost = modules.Where(m => !modules.Any(o => m.StartsWith(o + ".", StringComparison.Ordinal))).ToList();
    }

    /// <summary>What of <paramref name="model"/> is locked now.</summary>
    public static FrozenParts Of(nn.Module model)
    {
        ArgumentNullException.ThrowIfNull(model);
        var frozen = model.named_parameters().Where(p => !p.parameter.requires_grad).Select(p => p.name).ToHashSet();
        var modules = new HashSet<string>();
        if (frozen.Count > 0)
            foreach (var (name, module) in model.named_modules())
            {
                if (name.Length == 0) continue;
                var names = module.named_parameters().Select(p => $"{name}.{p.name}").ToList();
                if (names.Count > 0 && names.All(frozen.Contains)) modules.Add(name);
            }
        return new FrozenParts(frozen, modules);
    }

    /// <summary>Whether anything is locked.</summary>
    public bool Any => _parameters.Count > 0;

    /// <summary>The locked parameters' state-dict names.</summary>
    public IReadOnlySet<string> Parameters => _parameters;

    /// <summary>Whether the parameter or buffer <paramref name="name"/> is locked (a buffer when its module is: BatchNorm statistics).</summary>
    public bool Contains(string name) =>
        _parameters.Contains(name) || _outermost.Any(m => name.StartsWith(m + ".", StringComparison.Ordinal));

    /// <summary>Whether every parameter of <paramref name="tower"/> of <paramref name="model"/> is locked.</summary>
    public bool LocksWholeTower(ClipModel model, ClipTower tower)
    {
        var names = model.named_parameters().Select(p => p.name).Where(n => ClipTowers.TowerOf(n) == tower).ToList();
        return names.Count > 0 && names.All(_parameters.Contains);
    }

    /// <summary>
    /// Puts the modules made only of locked parameters into eval mode (call after <c>model.train()</c>): their BatchNorm
    /// statistics stay as they are. <paramref name="model"/> has the structure this was read from (the model or its bf16 copy).
    /// </summary>
    public void SetEvalModes(nn.Module model)
    {
        if (_outermost.Count == 0) return;
        foreach (var (name, module) in model.named_modules())
            if (_modules.Contains(name) && module.training) module.eval();
    }
}

/// <summary>Applies <see cref="TowerLock"/>s to a model: <c>requires_grad</c> false on every parameter they lock.</summary>
internal static class TowerLocking
{
    /// <summary>
    /// Locks what <paramref name="image"/> and <paramref name="text"/> say (null: that tower trains) and returns the
    /// parameters it locked, so they can be released after the run. Parameters already locked stay locked.
    /// </summary>
    public static List<Parameter> Apply(ClipModel model, TowerLock? image, TowerLock? text)
    {
        ArgumentNullException.ThrowIfNull(model);
        image?.Validate("ImageTowerLock");
        text?.Validate("TextTowerLock");
        var locked = new List<Parameter>();
        if (image is null && text is null) return locked;
        Check(model, ClipTower.Image, image);
        Check(model, ClipTower.Text, text);
        var norms = NormParameters(model);
        foreach (var (name, parameter) in model.named_parameters())
        {
            var rule = ClipTowers.TowerOf(name) switch { ClipTower.Image => image, ClipTower.Text => text, _ => null };
            if (rule is null || !parameter.requires_grad || Trains(rule, name, model, norms)) continue;
            parameter.requires_grad = false;
            locked.Add(parameter);
        }
        return locked;
    }

    private static bool Trains(TowerLock rule, string name, ClipModel model, HashSet<string> norms)
    {
        if (rule.TrainNorms && norms.Contains(name)) return true;
        var (section, block) = ClipTowers.SectionOf(name, model);
        return section switch
        {
            TowerSection.Block => block >= ClipTowers.BlockCount(model, ClipTowers.TowerOf(name)) - rule.TrainedBlocks,
            TowerSection.Head => rule.TrainHead,
            _ => false,
        };
    }

    private static void Check(ClipModel model, ClipTower tower, TowerLock? rule)
    {
        int blocks = ClipTowers.BlockCount(model, tower);
        if (rule is not null && rule.TrainedBlocks > blocks)
            throw new ArgumentOutOfRangeException(tower == ClipTower.Image ? "ImageTowerLock" : "TextTowerLock", rule.TrainedBlocks,
                $"The lock leaves {rule.TrainedBlocks} blocks of the {tower.ToString().ToLowerInvariant()} tower trainable, but it has {blocks}.");
    }

    /// <summary>Parameters of LayerNorm and BatchNorm modules, by state-dict name.</summary>
    private static HashSet<string> NormParameters(ClipModel model)
    {
        var result = new HashSet<string>();
        foreach (var (name, module) in model.named_modules())
            if (module is ClipLayerNorm or LayerNorm or BatchNorm2d)
                foreach (var (parameterName, _) in module.named_parameters())
                    result.Add($"{name}.{parameterName}");
        return result;
    }
}
