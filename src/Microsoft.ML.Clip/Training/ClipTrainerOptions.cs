using System;

namespace Microsoft.ML.Clip.Training;

/// <summary>Optimization settings of a CLIP training run (defaults follow open_clip where it has one).</summary>
public sealed record ClipTrainerOptions
{
    /// <summary>Peak learning rate, reached after <see cref="WarmupSteps"/> and then decayed by a cosine schedule to the end of the run.</summary>
    public double LearningRate { get; init; } = 5e-4;

    /// <summary>Decoupled weight decay for matrices (biases, norms, embeddings and the temperature are excluded).</summary>
    public double WeightDecay { get; init; } = 0.2;

    /// <summary>AdamW β1, the decay of the running mean of gradients.</summary>
    public double Beta1 { get; init; } = 0.9;

    /// <summary>AdamW β2, the decay of the running mean of squared gradients (0.98 as CLIP for ViTs; 0.999 is PyTorch's default).</summary>
    public double Beta2 { get; init; } = 0.98;

    /// <summary>AdamW ε, added to the root of the second moment before dividing (1e-6 as open_clip).</summary>
    public double Epsilon { get; init; } = 1e-6;

    /// <summary>Linear warmup length in optimizer steps.</summary>
    public long WarmupSteps { get; init; } = 100;

    /// <summary>Clip the global gradient L2 norm to this value; null disables clipping.</summary>
    public double? GradientClipNorm { get; init; } = 1.0;

    /// <summary>
    /// Rows per forward/backward pass. When smaller than the batch, gradients are accumulated over
    /// micro-batches while the loss still contrasts every pair of the whole batch (features of the other
    /// micro-batches are cached, then each micro-batch is recomputed with gradients). Null: the whole batch at once.
    /// </summary>
    public int? MicroBatchSize { get; init; }

    /// <summary>
    /// Towers trained with activation checkpointing: each residual block keeps only its input during the forward pass
    /// and runs again in the backward pass: the activations kept are one tensor per block instead of every intermediate,
    /// for one more forward pass of the checkpointed blocks per step (the README's performance section has the
    /// measurements). With <see cref="MicroBatchSize"/> it is how large contrastive batches fit. Results equal those
    /// without it up to float rounding. Vision Transformer and text towers only.
    /// </summary>
    public CheckpointedTowers ActivationCheckpointing { get; init; } = CheckpointedTowers.None;

    /// <summary>Arithmetic of forward/backward passes; the master weights and optimizer state stay fp32 in every mode.</summary>
    public TrainingPrecision Precision { get; init; } = TrainingPrecision.Float32;

    /// <summary>Upper bound of the learnable <c>logit_scale</c> (ln 100, as CLIP), applied after every step.</summary>
    public double MaxLogitScale { get; init; } = Math.Log(100);

    /// <summary>When a step's loss or gradient is NaN or infinite: false (default) stops with an error, true skips the step.</summary>
    public bool SkipNonFiniteSteps { get; init; }

    /// <summary>
    /// Parameters of the image tower that stay fixed (<see cref="TowerLock.Full"/>: LiT's locked image tower); null: the
    /// tower trains. Locked parameters get no gradient, optimizer state or weight decay, and their modules run in eval mode.
    /// </summary>
    public TowerLock? ImageTowerLock { get; init; }

    /// <summary>Parameters of the text tower that stay fixed; null: the tower trains. See <see cref="ImageTowerLock"/>.</summary>
    public TowerLock? TextTowerLock { get; init; }

    /// <summary>
    /// Keep the features of a fully locked tower across epochs, by row id (sources that give ids: ClipPretrain's), and
    /// reuse them while a row's input is unchanged (checked by a fingerprint of its pixels or token ids). Costs
    /// 4 × embedding width bytes per training row and tower; a LiT epoch after the first then runs only the trained tower.
    /// </summary>
    public bool CacheLockedTowerFeatures { get; init; }

    /// <summary>Checks the values; the message names the setting.</summary>
    public void Validate()
    {
        if (!(LearningRate > 0)) throw new ArgumentOutOfRangeException(nameof(LearningRate), LearningRate, "The learning rate must be positive.");
        if (WeightDecay < 0) throw new ArgumentOutOfRangeException(nameof(WeightDecay), WeightDecay, "The weight decay cannot be negative.");
        if (Beta1 is < 0 or >= 1) throw new ArgumentOutOfRangeException(nameof(Beta1), Beta1, "β1 must be in [0, 1).");
        if (Beta2 is < 0 or >= 1) throw new ArgumentOutOfRangeException(nameof(Beta2), Beta2, "β2 must be in [0, 1).");
        if (!(Epsilon > 0)) throw new ArgumentOutOfRangeException(nameof(Epsilon), Epsilon, "ε must be positive.");
        if (WarmupSteps < 0) throw new ArgumentOutOfRangeException(nameof(WarmupSteps), WarmupSteps, "The warmup cannot be negative.");
        if (GradientClipNorm is <= 0) throw new ArgumentOutOfRangeException(nameof(GradientClipNorm), GradientClipNorm, "The clipping norm must be positive.");
        if ((ActivationCheckpointing & ~CheckpointedTowers.Both) != 0)
            throw new ArgumentOutOfRangeException(nameof(ActivationCheckpointing), ActivationCheckpointing, "Unknown tower.");
        if (MicroBatchSize is < 1) throw new ArgumentOutOfRangeException(nameof(MicroBatchSize), MicroBatchSize, "The micro-batch size must be at least 1.");
        ImageTowerLock?.Validate(nameof(ImageTowerLock));
        TextTowerLock?.Validate(nameof(TextTowerLock));
    }
}
