using System;

namespace Microsoft.ML.Clip.Training.Objectives.EvaClip;

/// <summary>
/// Settings of <see cref="EvaClipObjective"/> (Sun et al., 2023, "EVA-CLIP: Improved Training Techniques for CLIP
/// at Scale"). The paper's EVA02-CLIP-B/16, for reference: LAMB (β2 0.98, ε 1e-6, weight decay 0.05), image
/// tower rate 2e-4 with layer decay 0.75, text tower rate 2e-5 with layer decay 0.75, and 50% patch dropout
/// (FLIP-style random token masking). Peak rate, β, ε and weight decay come from <see cref="ClipTrainerOptions"/>.
/// </summary>
public sealed record EvaClipOptions
{
    /// <summary>Base learning rate of the image tower relative to the scheduled rate (image lr / scheduled lr).</summary>
    public double ImageLearningRateRatio { get; init; } = 1.0;

    /// <summary>Base learning rate of the text tower relative to the scheduled rate (EVA02-CLIP: 0.1 of the image rate).</summary>
    public double TextLearningRateRatio { get; init; } = 1.0;

    /// <summary>Layer-wise learning-rate decay of the image tower, in (0, 1]; 1 disables it.</summary>
    public double ImageLayerDecay { get; init; } = 0.75;

    /// <summary>Layer-wise learning-rate decay of the text tower, in (0, 1]; 1 disables it.</summary>
    public double TextLayerDecay { get; init; } = 0.75;

    /// <summary>
    /// Fraction of image patch tokens dropped at random for each training image (the class token is always kept),
    /// in [0, 1); 0 disables it. Needs a Vision Transformer image tower. Inference always sees every patch.
    /// </summary>
    public double PatchDropout { get; init; } = 0.5;

    /// <summary>Initial weights of the image tower (<c>visual.*</c>); null keeps the model's own.</summary>
    public PretrainedTower? ImageTowerInit { get; init; }

    /// <summary>Initial weights of the text tower (it must use the same tokenizer); null keeps the model's own.</summary>
    public PretrainedTower? TextTowerInit { get; init; }

    /// <summary>Checks the values; the message names the setting.</summary>
    public void Validate()
    {
        if (!(ImageLearningRateRatio > 0)) throw new ArgumentOutOfRangeException(nameof(ImageLearningRateRatio), ImageLearningRateRatio, "The ratio must be positive.");
        if (!(TextLearningRateRatio > 0)) throw new ArgumentOutOfRangeException(nameof(TextLearningRateRatio), TextLearningRateRatio, "The ratio must be positive.");
        if (!(ImageLayerDecay > 0 && ImageLayerDecay <= 1)) throw new ArgumentOutOfRangeException(nameof(ImageLayerDecay), ImageLayerDecay, "The layer decay must be in (0, 1].");
        if (!(TextLayerDecay > 0 && TextLayerDecay <= 1)) throw new ArgumentOutOfRangeException(nameof(TextLayerDecay), TextLayerDecay, "The layer decay must be in (0, 1].");
        if (!(PatchDropout >= 0 && PatchDropout < 1)) throw new ArgumentOutOfRangeException(nameof(PatchDropout), PatchDropout, "Patch dropout must be in [0, 1).");
    }
}
