using System;
using System.Collections.Generic;
using System.Linq;
using Microsoft.ML.Clip.Modeling;

namespace Microsoft.ML.Clip.Training.Objectives.EvaClip;

/// <summary>
/// EVA-CLIP's layer-wise learning-rate decay (from BEiT and EVA fine-tuning): within a tower of L blocks, depth
/// 0 is the stem (ViT: <c>conv1</c>, <c>class_embedding</c>, <c>positional_embedding</c>, <c>ln_pre</c>; timm trunks:
/// <c>patch_embed</c>, <c>pos_embed</c>, <c>cls_token</c>; text: <c>token_embedding</c>, <c>positional_embedding</c>),
/// block i has depth i + 1 and the head (ViT: <c>ln_post</c>, <c>proj</c>; timm: <c>norm</c>, <c>attn_pool</c>,
/// <c>head</c>; text: <c>ln_final</c>, <c>text_projection</c>) depth L + 1, as each tower's <see cref="TowerLayout"/>
/// says; a parameter at depth d gets <c>ratio · decay^(L + 1 − d)</c> of the scheduled learning rate, where ratio is the tower's base
/// rate relative to the schedule. Layers near the input, which pretrained weights make most general, move least.
/// </summary>
internal static class LayerwiseLearningRates
{
    /// <summary>The tower of a state-dict name of <see cref="ClipModel"/> (or an <c>objective.</c> parameter): <see cref="ClipTowers.TowerOf"/>.</summary>
    public static ClipTower TowerOf(string name) => ClipTowers.TowerOf(name);

    /// <summary>
    /// The learning-rate scale of every parameter of <paramref name="model"/> (plus any <c>objective.</c> names in
    /// <paramref name="names"/>, which get 1): <c>ratio · decay^(L + 1 − depth)</c> per tower.
    /// </summary>
    /// <param name="model">The model (its config gives each tower's depth).</param>
    /// <param name="names">Parameter names to scale.</param>
    /// <param name="imageRatio">Image tower base rate relative to the scheduled rate.</param>
    /// <param name="imageDecay">Image tower layer decay in (0, 1]; 1 disables it.</param>
    /// <param name="textRatio">Text tower base rate relative to the scheduled rate.</param>
    /// <param name="textDecay">Text tower layer decay in (0, 1].</param>
    public static Dictionary<string, double> Scales(ClipModel model, IEnumerable<string> names,
        double imageRatio, double imageDecay, double textRatio, double textDecay)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(names);
        var result = new Dictionary<string, double>();
        foreach (var name in names)
        {
            var tower = TowerOf(name);
            if (tower == ClipTower.Shared)
            {
                result[name] = 1.0;
                continue;
            }
            var (ratio, decay) = tower == ClipTower.Image ? (imageRatio, imageDecay) : (textRatio, textDecay);
            // Depth within the tower from its layout: stem 0, block i at i + 1, head at blocks + 1. A tower whose layout
            // does not decay by depth (a ModifiedResNet) takes its base ratio throughout.
            var layout = ClipTowers.LayoutOf(model, tower);
            result[name] = layout.DecaysByDepth ? ratio * Math.Pow(decay, layout.BlockCount + 1 - layout.Depth(name)) : ratio;
        }
        return result;
    }
}
