using System;
using System.Collections.Generic;
using Microsoft.ML.Clip.Imaging;

namespace Microsoft.ML.Clip.Training.Objectives.Slip;

/// <summary>Settings of <see cref="SlipObjective"/> (defaults follow the SLIP paper where it has one).</summary>
public sealed record SlipOptions
{
    /// <summary>Weight of the self-supervised (SimCLR) term; SLIP uses 1.</summary>
    public double SelfSupervisedWeight { get; init; } = 1.0;

    /// <summary>NT-Xent temperature τ (0.1 in SLIP).</summary>
    public double Temperature { get; init; } = 0.1;

    /// <summary>Hidden width of the projection head.</summary>
    public int HeadHiddenSize { get; init; } = 512;

    /// <summary>Output width of the projection head.</summary>
    public int HeadOutputSize { get; init; } = 128;

    /// <summary>Smallest crop area, as a fraction of the image, of the random resized crop (SimCLR: 0.08).</summary>
    public double MinCropScale { get; init; } = 0.08;

    /// <summary>Mean used by the image preprocessing (augmentations work on un-normalized pixels).</summary>
    public IReadOnlyList<float> PixelMean { get; init; } = ImagePreprocessingOptions.OpenAIClipMean;

    /// <summary>Standard deviation used by the image preprocessing.</summary>
    public IReadOnlyList<float> PixelStd { get; init; } = ImagePreprocessingOptions.OpenAIClipStd;

    /// <summary>Seed of the augmentations (each step derives its own generator from it and the step number).</summary>
    public int Seed { get; init; }

    internal void Validate()
    {
        if (SelfSupervisedWeight < 0) throw new ArgumentOutOfRangeException(nameof(SelfSupervisedWeight), SelfSupervisedWeight, "The weight cannot be negative.");
        if (!(Temperature > 0)) throw new ArgumentOutOfRangeException(nameof(Temperature), Temperature, "τ must be positive.");
        if (HeadHiddenSize < 1 || HeadOutputSize < 1) throw new ArgumentOutOfRangeException(nameof(HeadOutputSize), "Head sizes must be positive.");
        if (MinCropScale is <= 0 or > 1) throw new ArgumentOutOfRangeException(nameof(MinCropScale), MinCropScale, "The crop scale must be in (0, 1].");
        if (PixelMean.Count != 3 || PixelStd.Count != 3) throw new ArgumentException("Pixel mean and std need three values (R, G, B).");
    }
}
