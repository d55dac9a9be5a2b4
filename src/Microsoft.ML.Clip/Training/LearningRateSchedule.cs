using System;

namespace Microsoft.ML.Clip.Training;

/// <summary>
/// open_clip's schedule: linear warmup from 0 to the base rate over <see cref="WarmupSteps"/> steps, then a
/// half-cosine decay to 0 at <see cref="TotalSteps"/>.
/// </summary>
/// <param name="BaseLearningRate">Peak learning rate.</param>
/// <param name="WarmupSteps">Warmup length in optimizer steps.</param>
/// <param name="TotalSteps">Total optimizer steps of the run.</param>
internal sealed record LearningRateSchedule(double BaseLearningRate, long WarmupSteps, long TotalSteps)
{
    /// <summary>The learning rate for the 0-based optimizer step <paramref name="step"/>.</summary>
    public double At(long step)
    {
        if (step < WarmupSteps)
            return BaseLearningRate * (step + 1) / WarmupSteps;
        long decaySteps = Math.Max(1, TotalSteps - WarmupSteps);
        double progress = Math.Min(1.0, (double)(step - WarmupSteps) / decaySteps);
        return 0.5 * (1 + Math.Cos(Math.PI * progress)) * BaseLearningRate;
    }
}
