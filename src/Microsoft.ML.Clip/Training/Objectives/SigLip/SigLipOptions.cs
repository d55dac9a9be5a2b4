using System;
using Microsoft.ML.Clip.Modeling.Losses;

namespace Microsoft.ML.Clip.Training.Objectives.SigLip;

/// <summary>Settings of <see cref="SigLipObjective"/>: the initial temperature and bias of the sigmoid loss.</summary>
/// <remarks>
/// The bias starts strongly negative because, of the B² pairs in a batch, only B are positive: with
/// <c>b₀ = −10</c> and <c>t₀ = 10</c> every pair starts with σ(logit) ≈ 0, close to the prior of the
/// overwhelmingly negative labels, so the first steps are not spent pulling every logit down (Zhai et al. 2023,
/// §3.1 and §4.5). The paper's −10 suits batches of thousands; for small batches a bias near the log prior odds
/// of a positive pair, <c>b₀ ≈ −ln B</c> (≈ −3.5 for B = 32), is a sensible start.
/// </remarks>
public sealed record SigLipOptions
{
    /// <summary>Initial <c>t′</c>, the log of the temperature <c>t = exp(t′)</c>: ln 10 as in the paper.</summary>
    public double InitLogitScale { get; init; } = SigLipLoss.DefaultInitLogitScale;

    /// <summary>Initial bias <c>b</c> added to every logit: −10 as in the paper (see the remarks for small batches).</summary>
    public double InitLogitBias { get; init; } = SigLipLoss.DefaultInitLogitBias;

    /// <summary>Throws when a value is not finite.</summary>
    public void Validate()
    {
        if (!double.IsFinite(InitLogitScale))
            throw new ArgumentOutOfRangeException(nameof(InitLogitScale), InitLogitScale, "The initial logit scale must be finite.");
        if (!double.IsFinite(InitLogitBias))
            throw new ArgumentOutOfRangeException(nameof(InitLogitBias), InitLogitBias, "The initial logit bias must be finite.");
    }
}
