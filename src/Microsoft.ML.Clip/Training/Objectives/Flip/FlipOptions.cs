using System;

namespace Microsoft.ML.Clip.Training.Objectives.Flip;

/// <summary>Settings of <see cref="FlipObjective"/>.</summary>
public sealed record FlipOptions
{
    /// <summary>
    /// Fraction of image patches dropped per sample during training (the paper uses 0.5 and 0.75). Each sample
    /// keeps <c>round((1 − ratio)·P)</c> of its P patches plus the class token. Default 0.5.
    /// </summary>
    public double MaskRatio { get; init; } = 0.5;

    /// <summary>
    /// Optimizer steps at the end of training that run without masking ("unmasked tuning", FLIP §3, which closes
    /// the distribution gap between masked training and unmasked inference). 0: mask throughout. Needs
    /// <see cref="TotalSteps"/>.
    /// </summary>
    public long UnmaskedTuningSteps { get; init; }

    /// <summary>Optimizer steps of the whole run (needed only with <see cref="UnmaskedTuningSteps"/>).</summary>
    public long? TotalSteps { get; init; }

    /// <summary>Seed of the objective's own random generator that draws the kept patches.</summary>
    public ulong Seed { get; init; } = 0x5EED;

    /// <summary>Throws when a setting is out of range.</summary>
    public void Validate()
    {
        if (!(MaskRatio > 0 && MaskRatio < 1))
            throw new ArgumentOutOfRangeException(nameof(MaskRatio), MaskRatio, "The mask ratio must be in (0, 1); FLIP uses 0.5 to 0.75.");
        if (UnmaskedTuningSteps < 0)
            throw new ArgumentOutOfRangeException(nameof(UnmaskedTuningSteps), UnmaskedTuningSteps, "Unmasked tuning steps cannot be negative.");
        if (UnmaskedTuningSteps > 0 && TotalSteps is not > 0)
            throw new ArgumentException("Unmasked tuning for the final steps needs TotalSteps (the run's optimizer steps).", nameof(TotalSteps));
    }
}
