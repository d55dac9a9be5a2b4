using System;

namespace Microsoft.ML.Clip.Training.Objectives.MaskClip;

/// <summary>Settings of <see cref="MaskClipObjective"/>. Defaults follow MaskCLIP (Dong et al., 2023) and the iBOT/DINO
/// self-distillation it builds on where the paper leaves a value open.</summary>
public sealed record MaskClipOptions
{
    /// <summary>Fraction of image patches hidden from the student (random per image). Default 0.75.</summary>
    public double MaskRatio { get; init; } = 0.75;

    /// <summary>Number K of prototypes the distillation head maps each patch token to. Default 1024.</summary>
    public int Prototypes { get; init; } = 1024;

    /// <summary>EMA momentum of the teacher (image tower and head) after each optimizer step. Default 0.999.</summary>
    public double TeacherMomentum { get; init; } = 0.999;

    /// <summary>Temperature of the student's softmax over prototypes. Default 0.1 (DINO/iBOT).</summary>
    public double StudentTemperature { get; init; } = 0.1;

    /// <summary>Temperature of the teacher's softmax, lower than the student's so the target is sharpened. Default 0.04.</summary>
    public double TeacherTemperature { get; init; } = 0.04;

    /// <summary>EMA momentum of the centre subtracted from the teacher's logits (prevents collapse to one prototype). Default 0.9.</summary>
    public double CenterMomentum { get; init; } = 0.9;

    /// <summary>Fraction of each caption's non-special tokens replaced by <see cref="MaskTokenId"/> for masked language modelling. Default 0.15.</summary>
    public double TextMaskProbability { get; init; } = 0.15;

    /// <summary>
    /// The token id written over masked caption tokens, or null for the start-of-text id (vocabulary size − 2 in CLIP
    /// vocabularies): CLIP has no [MASK] token, the start-of-text id never occurs inside a caption, and it is below the
    /// end-of-text id, so the masked text still pools at its end-of-text token.
    /// </summary>
    public int? MaskTokenId { get; init; }

    /// <summary>
    /// True (default): the MLM decoder is tied to the token embedding (logits = h·Eᵀ + b with a trained bias b, as BERT);
    /// false: a separate Linear(width → vocabulary) head.
    /// </summary>
    public bool TieTextHeadToEmbedding { get; init; } = true;

    /// <summary>Weight of the CLIP contrastive loss. Default 1.</summary>
    public double ContrastiveWeight { get; init; } = 1;

    /// <summary>Weight of the masked self-distillation loss. Default 1.</summary>
    public double DistillationWeight { get; init; } = 1;

    /// <summary>Weight of the masked language modelling loss. Default 1.</summary>
    public double LanguageModelWeight { get; init; } = 1;

    /// <summary>Throws <see cref="ArgumentException"/> naming the first invalid setting.</summary>
    public void Validate()
    {
        Require(MaskRatio is >= 0 and < 1, $"mask ratio must be in [0, 1), got {MaskRatio}.");
        Require(Prototypes > 0, $"prototypes must be positive, got {Prototypes}.");
        Require(TeacherMomentum is >= 0 and <= 1, $"teacher momentum must be in [0, 1], got {TeacherMomentum}.");
        Require(CenterMomentum is >= 0 and <= 1, $"centre momentum must be in [0, 1], got {CenterMomentum}.");
        Require(StudentTemperature > 0 && TeacherTemperature > 0, "temperatures must be positive.");
        Require(TextMaskProbability is >= 0 and <= 1, $"text mask probability must be in [0, 1], got {TextMaskProbability}.");
        Require(MaskTokenId is null or >= 0, $"mask token id must be non-negative, got {MaskTokenId}.");
        Require(ContrastiveWeight >= 0 && DistillationWeight >= 0 && LanguageModelWeight >= 0, "loss weights must be non-negative.");
    }

    private static void Require(bool condition, string message)
    {
        if (!condition) throw new ArgumentException("Invalid MaskCLIP options: " + message);
    }
}
