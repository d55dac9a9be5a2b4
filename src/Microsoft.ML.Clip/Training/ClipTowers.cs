using System;
using Microsoft.ML.Clip.Modeling;

namespace Microsoft.ML.Clip.Training;

/// <summary>Which part of a CLIP model a parameter belongs to, for per-tower learning rates and locks.</summary>
internal enum ClipTower
{
    /// <summary>The image tower (<c>visual.*</c>).</summary>
    Image,

    /// <summary>The text tower (token and positional embeddings, <c>transformer.*</c>, <c>ln_final</c>, <c>text_projection</c>, at the top level or under <c>text.</c>).</summary>
    Text,

    /// <summary>Neither: <c>logit_scale</c>, <c>logit_bias</c> and objective-owned parameters; they take the scheduled rate.</summary>
    Shared,
}

/// <summary>The towers of <see cref="ClipModel"/>'s state-dict names; within a tower, its own <see cref="TowerLayout"/>.</summary>
internal static class ClipTowers
{
    /// <summary>The tower of a state-dict name of <see cref="ClipModel"/> (or an <c>objective.</c> parameter).</summary>
    public static ClipTower TowerOf(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        if (name.StartsWith(ClipModel.ImageTowerPrefix, StringComparison.Ordinal)) return ClipTower.Image;
        if (name.StartsWith("logit_", StringComparison.Ordinal) || name.StartsWith("objective.", StringComparison.Ordinal)) return ClipTower.Shared;
        return ClipTower.Text;
    }

    /// <summary>The layout of one tower of <paramref name="model"/>, as the tower describes itself.</summary>
    public static TowerLayout LayoutOf(ClipModel model, ClipTower tower) => tower switch
    {
        ClipTower.Image => model.ImageLayout,
        ClipTower.Text => model.TextLayout,
        _ => throw new ArgumentException("logit_scale, logit_bias and objective parameters belong to no tower.", nameof(tower)),
    };

    /// <summary>Residual blocks of a tower in forward order (a ModifiedResNet's bottlenecks over its four stages).</summary>
    public static int BlockCount(ClipModel model, ClipTower tower) => tower == ClipTower.Shared ? 0 : LayoutOf(model, tower).BlockCount;

    /// <summary>
    /// The section of a tower tensor <paramref name="name"/> and, for a block, its 0-based index in forward order, from
    /// the tower's layout. Not defined for <see cref="ClipTower.Shared"/> names.
    /// </summary>
    public static (TowerSection Section, int Block) SectionOf(string name, ClipModel model) => LayoutOf(model, TowerOf(name)).SectionOf(name);
}
