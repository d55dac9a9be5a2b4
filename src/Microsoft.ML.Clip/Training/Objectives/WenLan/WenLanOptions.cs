using System;

namespace Microsoft.ML.Clip.Training.Objectives.WenLan;

/// <summary>Settings of <see cref="WenLanObjective"/>.</summary>
public sealed record WenLanOptions
{
    /// <summary>Momentum m of the key encoders, <c>θ_k ← m·θ_k + (1 − m)·θ_q</c> after every optimizer step (MoCo's 0.999 suits
    /// long runs; 0.99 lets the keys follow a short run).</summary>
    public double Momentum { get; init; } = 0.99;

    /// <summary>Length K of each queue (image keys, text keys): a multiple of the batch size, checked at the first step.</summary>
    public int QueueSize { get; init; } = 4096;

    /// <summary>
    /// A fixed temperature τ (logits divided by τ; MoCo uses 0.07), or null (default) to use the model's learnable
    /// <c>exp(logit_scale)</c> as 1/τ, trained and clamped like CLIP's. WenLan states a temperature hyper-parameter;
    /// the learnable one keeps the saved model's logit scale meaningful for zero-shot scoring.
    /// </summary>
    public double? Temperature { get; init; }

    /// <summary>Throws <see cref="ArgumentException"/> naming the first invalid setting.</summary>
    public void Validate()
    {
        if (Momentum is < 0 or > 1 || double.IsNaN(Momentum)) throw new ArgumentException($"WenLan momentum must be in [0, 1], got {Momentum}.");
        if (QueueSize <= 0) throw new ArgumentException($"WenLan queue size must be positive, got {QueueSize}.");
        if (Temperature is double t && !(t > 0 && double.IsFinite(t))) throw new ArgumentException($"WenLan temperature must be positive, got {t}.");
    }
}
