using System;
using System.Globalization;
using System.Linq;
using Microsoft.ML.Clip.Modeling;

namespace Microsoft.ML.Clip.Training;

/// <summary>Which part of a CLIP model a parameter belongs to, for per-tower learning rates and locks.</summary>
internal enum ClipTower
{
    /// <summary>The image tower (<c>visual.*</c>).</summary>
    Image,

    /// <summary>The text tower (token and positional embeddings, <c>transformer.*</c>, <c>ln_final</c>, <c>text_projection</c>).</summary>
    Text,

    /// <summary>Neither: <c>logit_scale</c>, <c>logit_bias</c> and objective-owned parameters; they take the scheduled rate.</summary>
    Shared,
}

/// <summary>Where a tensor sits in its tower: before the residual blocks, in one of them, or in the head after them.</summary>
internal enum TowerSection
{
    /// <summary>Embeddings and stem (ViT: <c>conv1</c>, class and positional embeddings, <c>ln_pre</c>; text: token and positional embeddings; ResNet: the three-convolution stem).</summary>
    Stem,

    /// <summary>A residual block (<c>transformer.resblocks.N</c>, or a ResNet bottleneck <c>layerS.J</c>).</summary>
    Block,

    /// <summary>After the blocks (ViT: <c>ln_post</c>, <c>proj</c>; text: <c>ln_final</c>, <c>text_projection</c>; ResNet: <c>attnpool</c>).</summary>
    Head,
}

/// <summary>The layout of <see cref="ClipModel"/>'s state-dict names: towers, blocks and heads.</summary>
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

    /// <summary>Residual blocks of a tower in forward order (a ModifiedResNet's bottlenecks over its four stages).</summary>
    public static int BlockCount(ClipConfig config, ClipTower tower) => tower switch
    {
        ClipTower.Image => config.Vision.ResNetLayers?.Sum() ?? config.Vision.Layers,
        ClipTower.Text => config.Text.Layers,
        _ => 0,
    };

    /// <summary>
    /// The section of a tower tensor <paramref name="name"/> and, for a block, its 0-based index in forward order.
    /// Not defined for <see cref="ClipTower.Shared"/> names.
    /// </summary>
    public static (TowerSection Section, int Block) SectionOf(string name, ClipConfig config)
    {
        var tower = TowerOf(name);
        if (tower == ClipTower.Shared) throw new ArgumentException($"'{name}' belongs to no tower.", nameof(name));
        string local = tower == ClipTower.Image ? name[ClipModel.ImageTowerPrefix.Length..] : name;
        const string blocks = "transformer.resblocks.";
        if (local.StartsWith(blocks, StringComparison.Ordinal))
            return (TowerSection.Block, int.Parse(local[blocks.Length..].Split('.')[0], CultureInfo.InvariantCulture));
        if (tower == ClipTower.Image && config.Vision.ResNetLayers is { } stages && local.StartsWith("layer", StringComparison.Ordinal))
        {
            var parts = local["layer".Length..].Split('.');
            int stage = int.Parse(parts[0], CultureInfo.InvariantCulture) - 1;
            return (TowerSection.Block, stages.Take(stage).Sum() + int.Parse(parts[1], CultureInfo.InvariantCulture));
        }
        string[] heads = tower == ClipTower.Text ? ["ln_final.", "text_projection"]
            : config.Vision.IsResNet ? ["attnpool."] : ["ln_post.", "proj"];
        return heads.Any(h => local == h || local.StartsWith(h, StringComparison.Ordinal)) ? (TowerSection.Head, -1) : (TowerSection.Stem, -1);
    }
}
