using System;
using System.Collections.Generic;
using System.Linq;
using Microsoft.ML.Clip.Modeling;
using Microsoft.ML.Clip.Modeling.Losses;
using Microsoft.ML.Clip.Tests.Modeling;
using Microsoft.ML.Clip.Training.Objectives;
using Microsoft.ML.Clip.Training.Objectives.SigLip;
using Microsoft.ML.Clip.Transforms.Batching;
using Xunit;
using static TorchSharp.torch;

namespace Microsoft.ML.Clip.Tests.Distributed;

/// <summary>
/// What makes data-parallel training exact: each process's share of the loss (its rows against every column), summed
/// over processes, is the whole batch's loss, value and gradient; and the processes' row shares split every global
/// batch the same way whatever their number.
/// </summary>
public class LocalLossTests
{
    private static (Tensor Image, Tensor Text) Features(int n, int d, int seed)
    {
        var generator = new Generator((ulong)seed);
        var image = randn([n, d], generator: generator);
        var text = randn([n, d], generator: generator);
        return (image / image.norm(1, true), text / text.norm(1, true));
    }

    private static (double Loss, Tensor ImageGrad, Tensor TextGrad) Run(Tensor image, Tensor text, Func<Tensor, Tensor, Tensor> loss)
    {
        var i = image.detach().clone().requires_grad_(true);
        var t = text.detach().clone().requires_grad_(true);
        var value = loss(i, t);
        value.backward();
        return (value.item<float>(), i.grad!.clone(), t.grad!.clone());
    }

    private static void AssertSharesAddUp(Func<Tensor, Tensor, Tensor> whole, Func<Tensor, Tensor, long, long, Tensor> share)
    {
        using var scope = NewDisposeScope();
        var (image, text) = Features(12, 8, 3);
        var expected = Run(image, text, whole);
        // Three uneven shares, as processes with different numbers of readable rows would have.
        var ranges = new (long Start, long Count)[] { (0, 5), (5, 4), (9, 3) };
        var actual = Run(image, text, (i, t) => ranges.Select(r => share(i, t, r.Start, r.Count)).Aggregate((a, b) => a + b));
        // The shares sum three partial losses over 5, 4 and 3 rows against one over 12: other summation orders
        // and GEMM shapes. The loss (~2.5) is fp32: a few half-ulps (1.2e-7) per term and logits of 8-d dots with
        // rounding ≤ 8 × 6e-8 × the scale; 1e-5 bounds them, while shares that each returned the whole loss
        // would triple it (checked below).
        Approx.Equal(expected.Loss, actual.Loss, atol: 1e-5, rtol: 0, "sum of the shares vs the whole loss");
        // Feature gradients (entries ≲ 0.1) as sums of three shares' backward passes: fp32 rounding of a few terms,
        // ~1e-7 relative; 1e-4 relative + 1e-6 absolute leaves margin for other kernels, while a share counted
        // twice or left out changes rows by their whole value.
        Assert.True(expected.ImageGrad.allclose(actual.ImageGrad, rtol: 1e-4, atol: 1e-6), "image gradients differ");
        Assert.True(expected.TextGrad.allclose(actual.TextGrad, rtol: 1e-4, atol: 1e-6), "text gradients differ");
        // A single share is not the whole: the test would notice shares that each return the whole loss.
        var first = Run(image, text, (i, t) => share(i, t, 0, 5));
        Assert.True(Math.Abs(first.Loss - expected.Loss) > 1e-3);
    }

    [Fact]
    public void ClipLossRowSharesAddUpToTheWholeLoss()
    {
        using var scope = NewDisposeScope();
        var scale = tensor(14.3f);
        AssertSharesAddUp((i, t) => ClipLoss.Compute(i, t, scale), (i, t, start, count) => ClipLoss.ComputeRows(i, t, scale, start, count));
    }

    [Fact]
    public void SigLipLossRowSharesAddUpToTheWholeLoss()
    {
        using var scope = NewDisposeScope();
        var scale = tensor(10f);
        var bias = tensor(-10f);
        AssertSharesAddUp((i, t) => SigLipLoss.Compute(i, t, scale, bias), (i, t, start, count) => SigLipLoss.ComputeRows(i, t, scale, bias, start, count));
    }

    [Fact]
    public void TheDefaultLocalLossIsTheRowShareOfTheWholeLoss()
    {
        // An objective without its own LocalLoss (queues, teachers) computes the whole loss on every process and
        // keeps count / N of it: the shares add up to the whole loss.
        using var scope = NewDisposeScope();
        manual_seed(1);
        using var model = new ClipModel(TinyConfigs.Micro, CPU);
        var objective = new ProbeObjective();
        var (image, text) = Features(12, model.Config.EmbedDim, 5);
        var whole = Run(image, text, (i, t) => objective.Loss(model, Pair(i, t), true));
        var shares = Run(image, text, (i, t) => new[] { (0L, 7L), (7L, 5L) }.Select(r => objective.LocalLoss(model, Pair(i, t), r.Item1, r.Item2, true)).Aggregate((a, b) => a + b));
        // The same bound as in AssertSharesAddUp: two fp32 partial sums against one.
        Approx.Equal(whole.Loss, shares.Loss, atol: 1e-5, rtol: 0, "sum of the row shares vs the whole loss");
        Assert.True(whole.ImageGrad.allclose(shares.ImageGrad, rtol: 1e-4, atol: 1e-6));
    }

    private static ObjectiveFeatures Pair(Tensor image, Tensor text) => new(new Dictionary<string, Tensor> { ["image"] = image, ["text"] = text });

    /// <summary>CLIP's loss without a LocalLoss override, so the base class's default is what runs.</summary>
    private sealed class ProbeObjective : ClipObjective
    {
        public override string Name => "probe";
        public override ObjectiveFeatures Encode(ClipModel model, Microsoft.ML.Clip.Training.TrainingBatch batch) => throw new NotSupportedException();
        public override Tensor Loss(ClipModel model, ObjectiveFeatures features, bool trainModelLevelParameters) =>
            ClipLoss.Compute(features["image"], features["text"], model.LogitScale.exp());
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(4)]
    public void RowSharesAreDisjointCoverTheStreamAndKeepEveryGlobalBatch(int processes)
    {
        const int globalBatch = 8;
        int local = globalBatch / processes;
        var owners = Enumerable.Range(0, 40).Select(p => Enumerable.Range(0, processes).Where(r => new RowShard(r, processes, local).Owns(p)).ToList()).ToList();
        Assert.All(owners, o => Assert.Single(o));
        // Rows [8k, 8k + 8) form global batch k on any number of processes; process r owns block r of it.
        for (int position = 0; position < 40; position++)
            Assert.Equal(position % globalBatch / local, owners[position][0]);
    }
}
