using System;
using Microsoft.ML.Clip.Torch;
using TorchSharp;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace Microsoft.ML.Clip.Training.Objectives.MaskClip;

/// <summary>
/// The two token-level terms of MaskCLIP, returned as per-sample sums and counts so that gradient accumulation
/// (which concatenates micro-batches) reproduces the whole-batch token mean exactly.
/// </summary>
internal static class MaskClipLosses
{
    /// <summary>
    /// Masked self-distillation per image: <c>Σ_t −Σ_k softmax((z^T_t − c)/τ_t)_k · log softmax(z^S_t/τ_s)_k</c> over the
    /// student's tokens t, with the teacher's logits at the same patches as target (no gradient to the teacher).
    /// </summary>
    /// <param name="studentLogits">[N, T, K] student prototype logits.</param>
    /// <param name="teacherLogits">[N, T, K] teacher prototype logits at the same patches.</param>
    /// <param name="center">[K] running centre of the teacher's logits.</param>
    /// <param name="studentTemperature">τ_s.</param>
    /// <param name="teacherTemperature">τ_t.</param>
    /// <returns>Per-sample sums [N] (float32).</returns>
    public static Tensor DistillationPerSample(Tensor studentLogits, Tensor teacherLogits, Tensor center, double studentTemperature, double teacherTemperature)
    {
        if (studentLogits.dim() != 3 || !studentLogits.shape.AsSpan().SequenceEqual(teacherLogits.shape))
            throw new ArgumentException($"Expected student and teacher logits [N, T, K] of one shape, got [{string.Join(", ", studentLogits.shape)}] and [{string.Join(", ", teacherLogits.shape)}].");
        using var scope = NewDisposeScope();
        var target = F.softmax(ScalarSafe.Div(teacherLogits.detach().to(ScalarType.Float32) - center.to(ScalarType.Float32), teacherTemperature), -1);
        var logProbabilities = F.log_softmax(ScalarSafe.Div(studentLogits.to(ScalarType.Float32), studentTemperature), -1);
        return target.mul(logProbabilities).sum(-1).sum(-1).neg().MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Masked language modelling per caption: the summed cross-entropy of <paramref name="logits"/> [N, L, V] against the
    /// original <paramref name="targets"/> [N, L] at the <paramref name="masked"/> [N, L] positions, and how many there are.
    /// </summary>
    public static (Tensor Sums, Tensor Counts) LanguageModelPerSample(Tensor logits, Tensor targets, Tensor masked)
    {
        using var scope = NewDisposeScope();
        long n = logits.shape[0], l = logits.shape[1], v = logits.shape[2];
        var perToken = F.cross_entropy(logits.to(ScalarType.Float32).reshape(n * l, v), targets.to(ScalarType.Int64).reshape(n * l), reduction: nn.Reduction.None)
            .reshape(n, l);
        var weight = masked.to(ScalarType.Float32);
        var sums = perToken.mul(weight).sum(-1);
        var counts = weight.sum(-1);
        return (sums.MoveToOuterDisposeScope(), counts.MoveToOuterDisposeScope());
    }

    /// <summary>
    /// BERT-style masking of token ids [N, L]: each token strictly between the start-of-text token (position 0) and
    /// the end-of-text token (the row's largest id, as CLIP pools) is replaced by <paramref name="maskId"/> with
    /// probability <paramref name="probability"/>. Padding, start and end tokens are never masked.
    /// </summary>
    /// <returns>The masked ids and the boolean mask [N, L] of replaced positions.</returns>
    public static (Tensor Masked, Tensor Mask) MaskText(Tensor tokens, double probability, long maskId, Generator? generator = null)
    {
        using var scope = NewDisposeScope();
        var ids = tokens.to(ScalarType.Int64);
        long l = ids.shape[1];
        var positions = ScalarSafe.Arange(0, l, ScalarType.Int64, ids.device).unsqueeze(0);   // [1, L]
        var end = ids.argmax(-1, keepdim: true);                                               // [N, 1]
        var start = zeros(1, ScalarType.Int64, ids.device);
        var candidates = positions.gt(start).logical_and(positions.lt(end));
        var draw = rand(ids.shape, ScalarType.Float32, ids.device, generator: generator);
        var threshold = ScalarSafe.Full([], probability, ScalarType.Float32, ids.device);
        var mask = draw.lt(threshold).logical_and(candidates);
        var fill = ScalarSafe.Full([], maskId, ScalarType.Int64, ids.device);
        var masked = where(mask, fill, ids);
        return (masked.MoveToOuterDisposeScope(), mask.MoveToOuterDisposeScope());
    }
}
