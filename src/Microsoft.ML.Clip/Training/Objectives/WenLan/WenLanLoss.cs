using System;
using TorchSharp;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace Microsoft.ML.Clip.Training.Objectives.WenLan;

/// <summary>
/// One direction of WenLan's cross-modal InfoNCE with a momentum queue (Huo et al., 2021, eq. 3–4, after MoCo):
/// for each query <c>q_i</c> the logits are <c>[q_i·k_i, q_i·Q_1, …, q_i·Q_K] · s</c>, the positive first, and the
/// loss is the mean cross-entropy against class 0. Only the paired key is a positive; the negatives are the
/// queue alone (the other keys of the batch are not used, as in MoCo). Computed in fp32.
/// </summary>
internal static class WenLanLoss
{
    /// <summary>The mean loss over the queries, a 0-dim fp32 tensor.</summary>
    /// <param name="queries">L2-normalized query features [N, D] (with gradient).</param>
    /// <param name="positiveKeys">L2-normalized keys [N, D] of the paired items of the other modality (no gradient needed).</param>
    /// <param name="queue">L2-normalized queued keys of the other modality [K, D]; detached here.</param>
    /// <param name="scale">Inverse temperature <c>1/τ</c>, 0-dim or one element.</param>
    public static Tensor Compute(Tensor queries, Tensor positiveKeys, Tensor queue, Tensor scale)
    {
        if (queries.dim() != 2 || positiveKeys.dim() != 2 || queue.dim() != 2
            || !queries.shape.AsSpan().SequenceEqual(positiveKeys.shape) || queue.shape[1] != queries.shape[1])
            throw new ArgumentException($"Expected queries [N, D], keys [N, D] and queue [K, D]; got [{string.Join(", ", queries.shape)}], " +
                $"[{string.Join(", ", positiveKeys.shape)}] and [{string.Join(", ", queue.shape)}].");
        using var scope = NewDisposeScope();
        var q = queries.to(ScalarType.Float32);
        // Keys and queue are targets only: no gradient reaches the key encoder or the queue.
        var k = positiveKeys.detach().to(ScalarType.Float32);
        var negatives = queue.detach().to(ScalarType.Float32);
        var positive = q.mul(k).sum(-1, keepdim: true);                 // [N, 1]
        var negative = q.matmul(negatives.t());                          // [N, K]
        var logits = cat([positive, negative], 1).mul(scale.to(ScalarType.Float32).reshape());
        var labels = zeros(q.shape[0], ScalarType.Int64, q.device);     // the positive is class 0
        return F.cross_entropy(logits, labels).MoveToOuterDisposeScope();
    }
}
