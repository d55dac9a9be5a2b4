using System;
using System.IO;
using System.Linq;
using Microsoft.ML.Clip.Weights;
using Xunit;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace Microsoft.ML.Clip.Tests.Distributed;

/// <summary>
/// Data-parallel training under <c>mpiexec -n 2</c> (test/Microsoft.ML.Clip.DistributedProbe): two processes with
/// half of every batch each reach the weights of one process with the whole batch in the same order, stay
/// bit-identical to each other after every step, resume from each other's checkpoints, and stop together with a
/// clear error when one of them fails.
/// </summary>
public class DataParallelTrainingTests(ITestOutputHelper output)
{
    /// <summary>Largest difference between two weight files, after checking they hold the same tensors.</summary>
    private static double MaxDifference(string expectedPath, string actualPath)
    {
        var expected = SafeTensors.Load(expectedPath);
        var actual = SafeTensors.Load(actualPath);
        Assert.Equal(expected.Keys.Order(), actual.Keys.Order());
        double max = 0;
        foreach (var (name, tensor) in expected)
        {
            using var diff = (tensor - actual[name]).abs().max();
            max = Math.Max(max, diff.item<float>());
        }
        return max;
    }

    [MpiTheory]
    [InlineData("objective=clip")]
    [InlineData("objective=siglip")]
    [InlineData("objective=wenlan")]   // momentum encoder and queues: the default local loss on the gathered batch
    [InlineData("micro=2")]            // micro-batches inside each process's share
    public void TwoProcessesWithHalfBatchesReachTheWeightsOfOneProcessWithWholeBatches(string setting)
    {
        using var temp = new TempDirectory();
        MpiJob.RunOk(1, "trainer", $"out={temp.File("one")}", "steps=4", "batch=8", setting);
        MpiJob.RunOk(2, "trainer", $"out={temp.File("two")}", "steps=4", "batch=8", setting);

        var one = MpiJob.StepLog(temp.File("one/rank0.txt"));
        var rank0 = MpiJob.StepLog(temp.File("two/rank0.txt"));
        var rank1 = MpiJob.StepLog(temp.File("two/rank1.txt"));
        Assert.Equal(4, rank0.Count);
        // The two processes hold bit-identical weights after every step (and report the same global loss).
        Assert.Equal(rank0, rank1);
        for (int i = 0; i < one.Count; i++)
        {
            Assert.True(Math.Abs(one[i].Loss - rank0[i].Loss) < 1e-5, $"step {i + 1}: loss {rank0[i].Loss} on two processes, {one[i].Loss} on one");
            // The gradient itself, not only the direction Adam follows: a gradient half or twice the size would show here.
            Assert.True(Math.Abs(one[i].GradientNorm - rank0[i].GradientNorm) < 1e-4 * one[i].GradientNorm,
                $"step {i + 1}: gradient norm {rank0[i].GradientNorm} on two processes, {one[i].GradientNorm} on one");
        }
        double max = MaxDifference(temp.File("one/weights.safetensors"), temp.File("two/weights.safetensors"));
        output.WriteLine($"{setting}: max weight difference {max:E2}");
        Assert.True(max < 1e-5, $"weights differ by up to {max:E2}");
    }
}
