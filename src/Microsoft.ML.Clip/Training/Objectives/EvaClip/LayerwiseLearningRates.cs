using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using Microsoft.ML.Clip.Modeling;

namespace Microsoft.ML.Clip.Training.Objectives.EvaClip;

/// <summary>
/// EVA-CLIP's layer-wise learning-rate decay (from BEiT and EVA fine-tuning): within a tower of L blocks, depth
/// 0 is the input embedding (ViT: <c>conv1</c>, <c>class_embedding</c>, <c>positional_embedding</c>,
/// <c>ln_pre</c>; text: <c>token_embedding</c>, <c>positional_embedding</c>), block i has depth i + 1 and the
/// head (ViT: <c>ln_post</c>, <c>proj</c>; text: <c>ln_final</c>, <c>text_projection</c>) depth L + 1; a parameter
/// at depth d gets <c>ratio · decay^(L + 1 − d)</c> of the scheduled learning rate, where ratio is the tower's base
/// rate relative to the schedule. Layers near the input, which pretrained weights make most general, move least.
/// </summary>
internal static class LayerwiseLearningRates
{
    /// <summary>The tower of a state-dict name of <see cref="ClipModel"/> (or an <c>objective.</c> parameter): <see cref="ClipTowers.TowerOf"/>.</summary>
    public static ClipTower TowerOf(string name) => ClipTowers.TowerOf(name);

    /// <summary>
    /// Depth of <paramref name="name"/> within its tower (0 … layers + 1), as EVA-CLIP's <c>get_num_layer_for_*</c>:
    /// unknown names of a tower count as the head, as EVA's rule does. <paramref name="layers"/> is the tower's
    /// block count. Not defined for <see cref="ClipTower.Shared"/> parameters.
    /// </summary>
    public static int Depth(string name, int layers)
    {
        var tower = TowerOf(name);
        if (tower == ClipTower.Shared) throw new ArgumentException($"'{name}' belongs to no tower.", nameof(name));
        string local = tower == ClipTower.Image ? name[ClipModel.ImageTowerPrefix.Length..] : name;
        const string blocks = "transformer.resblocks.";
        if (local.StartsWith(blocks, StringComparison.Ordinal))
        {
            string index = local[blocks.Length..].Split('.')[0];
            return int.Parse(index, CultureInfo.InvariantCulture) + 1;
        }
        string[] embeddings = tower == ClipTower.Image
            ? ["conv1.", "class_embedding", "positional_embedding", "ln_pre."]
            : ["token_embedding.", "positional_embedding"];
        return embeddings.Any(e => local == e.TrimEnd('.') || local.StartsWith(e, StringComparison.Ordinal)) ? 0 : layers + 1;
    }

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
        // A ModifiedResNet has no sequence of blocks to decay over: its tower takes the base ratio throughout.
        bool imageIsViT = !model.Config.Vision.IsResNet;
        int imageLayers = model.Config.Vision.Layers, textLayers = model.Config.Text.Layers;
        var result = new Dictionary<string, double>();
        foreach (var name in names)
        {
            result[name] = TowerOf(name) switch
            {
                ClipTower.Image when imageIsViT => imageRatio * Math.Pow(imageDecay, imageLayers + 1 - Depth(name, imageLayers)),
                ClipTower.Image => imageRatio,
                ClipTower.Text => textRatio * Math.Pow(textDecay, textLayers + 1 - Depth(name, textLayers)),
                _ => 1.0,
            };
        }
        return result;
    }
}
