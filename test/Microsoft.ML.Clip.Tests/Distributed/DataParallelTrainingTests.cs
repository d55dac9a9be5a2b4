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
[Trait("Category", "Mpi")]
[Trait("Category", "Slow")]
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
    [InlineData("lock=image")]         // LiT: the image tower's parameters are in no gradient bucket
    [InlineData("lock=text-but-last")] // only the text tower's last block and head in the buckets
    [InlineData("tower=eva02")]        // EVA02's timm trunk (rotary embedding, SwiGLU) and the CustomTextCLIP layout
    [InlineData("tower=siglip")]       // SigLIP's trunk (attention-pool head) and text tower (no causal mask, last-position pooling)
    public void TwoProcessesWithHalfBatchesReachTheWeightsOfOneProcessWithWholeBatches(string setting)
    {
        using var temp = new TempDirectory();
        MpiJob.RunOk(1, "trainer", $"out={temp.File("one")}", "steps=4", "batch=8", setting);
        MpiJob.RunOk(2, "trainer", $"out={temp.File("two")}", "steps=4", "batch=8", setting);

        var one = MpiJob.StepLog(temp.File("one/rank0.txt"));
        var rank0 = MpiJob.StepLog(temp.File("two/rank0.txt"));
        var rank1 = MpiJob.StepLog(temp.File("two/rank1.txt"));
        Assert.Equal(4, rank0.Count);
        // One process against two: half-batch products and an Allreduce sum replace one whole-batch product (other
        // GEMM shapes and summation order, ~1e-7 relative in losses and gradients). The loss (~2) is compared to
        // 1e-5 (a few dozen of its ulps), the gradient norm to 1e-4 relative (Adam would hide a gradient off by a
        // factor, so its size is checked here), and the weights after 4 Adam steps to 1e-5: each step moves a
        // weight by ≤ lr and rounding-level gradient differences move that step by far less, while a wrong share
        // or a missed Allreduce sends the runs apart at the first step by up to lr (1e-3).
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

    [MpiFact]
    public void ClipPretrainOnTwoProcessesReadsDisjointSharesOfTheSameBatches()
    {
        // Through the whole pipeline (shuffled epochs, sharded reading, rank 0 returning the model): two processes
        // with global batch 16 train the model one process trains with batch 16.
        using var temp = new TempDirectory();
        MpiJob.RunOk(1, "pretrain", $"out={temp.File("one")}", "epochs=2", "batch=16");
        var two = MpiJob.RunOk(2, "pretrain", $"out={temp.File("two")}", "epochs=2", "batch=16");
        Assert.Contains("rank 0: done, 12 steps on 2 processes", two.Output);
        Assert.Contains("rank 1: done, 12 steps on 2 processes", two.Output);
        Assert.Equal(File.ReadAllLines(temp.File("one/losses.txt")).Length, File.ReadAllLines(temp.File("two/losses.txt")).Length);
        double max = MaxDifference(temp.File("one/weights.safetensors"), temp.File("two/weights.safetensors"));
        output.WriteLine($"max weight difference {max:E2}");
        Assert.True(max < 1e-5, $"weights differ by up to {max:E2}");
    }

    [MpiTheory]
    [InlineData(2, 1)]
    [InlineData(1, 2)]
    public void ARunResumesWithADifferentNumberOfProcesses(int before, int after)
    {
        using var temp = new TempDirectory();
        string checkpoints = temp.File("checkpoints");
        MpiJob.RunOk(1, "pretrain", $"out={temp.File("reference")}", "epochs=2", "batch=16");

        // Cancelled on rank 0 after step 5: every process stops at the same step and rank 0 writes a checkpoint.
        var stopped = MpiJob.Run(before, "pretrain", $"out={temp.File("stopped")}", "epochs=2", "batch=16", $"checkpoints={checkpoints}", "stop-after=5");
        Assert.True(stopped.ExitCode != 0, "the cancelled run should not succeed");
        for (int rank = 0; rank < before; rank++)
            Assert.Contains($"rank {rank}: cancelled", stopped.Error);
        Assert.Contains("checkpoint-000000005.safetensors", Directory.GetFiles(checkpoints).Select(Path.GetFileName));

        MpiJob.RunOk(after, "pretrain", $"out={temp.File("resumed")}", "epochs=2", "batch=16", $"checkpoints={checkpoints}");
        double max = MaxDifference(temp.File("reference/weights.safetensors"), temp.File("resumed/weights.safetensors"));
        output.WriteLine($"{before} → {after} processes: max weight difference {max:E2}");
        Assert.True(max < 1e-5, $"weights differ by up to {max:E2}");
    }

    [MpiFact]
    public void AnUnreadableRowOnOneProcessStopsEveryProcessWithTheRowNamed()
    {
        using var temp = new TempDirectory();
        string checkpoints = temp.File("checkpoints");
        var result = MpiJob.Run(2, "pretrain", $"out={temp.File("out")}", "epochs=2", "batch=16", $"checkpoints={checkpoints}", "badrow=40");
        Assert.NotEqual(0, result.ExitCode);
        output.WriteLine(result.Error);
        // The process that read the row reports its own error; the other names that process and its error.
        const string rowError = "ClipInputException: Column 'ImageBytes', row 40";
        var lines = result.Error.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        var own = Assert.Single(lines, l => l.Contains(": " + rowError, StringComparison.Ordinal) && !l.Contains("DistributedTrainingException", StringComparison.Ordinal));
        int failed = own[5] - '0';
        Assert.Single(lines, l => l.StartsWith($"rank {1 - failed}: DistributedTrainingException", StringComparison.Ordinal) && l.Contains($"rank {failed}: {rowError}", StringComparison.Ordinal));
        AssertCheckpointsComplete(checkpoints);
    }

    [MpiTheory]
    [InlineData("encode:1:2")]
    [InlineData("loss:0:1")]
    public void AFailureInsideAStepStopsEveryProcess(string failure)
    {
        using var temp = new TempDirectory();
        var result = MpiJob.Run(2, "trainer", $"out={temp.File("out")}", "steps=4", "batch=8", $"fail={failure}");
        Assert.NotEqual(0, result.ExitCode);
        var parts = failure.Split(':');
        int failed = int.Parse(parts[1], System.Globalization.CultureInfo.InvariantCulture);
        Assert.Contains($"rank {failed}: InvalidOperationException: injected failure", result.Error);
        Assert.Contains($"rank {1 - failed}: DistributedTrainingException: Distributed training stopped on all 2 processes because one process failed — rank {failed}: InvalidOperationException: injected failure", result.Error);
        // No step after the failure was taken by the process that did not fail.
        Assert.Equal(int.Parse(parts[2], System.Globalization.CultureInfo.InvariantCulture), File.ReadAllLines(temp.File($"out/rank{1 - failed}.txt")).Length);
    }

    [MpiFact]
    public void AKilledProcessEndsTheJobAndLeavesOnlyCompleteCheckpoints()
    {
        using var temp = new TempDirectory();
        string checkpoints = temp.File("checkpoints");
        var result = MpiJob.Run(2, "pretrain", $"out={temp.File("out")}", "epochs=2", "batch=16", $"checkpoints={checkpoints}", "kill-after-checkpoint=1");
        Assert.NotEqual(0, result.ExitCode);
        Assert.False(File.Exists(temp.File("out/weights.safetensors")));
        AssertCheckpointsComplete(checkpoints);
        // The newest checkpoint continues the run, here on one process.
        MpiJob.RunOk(1, "pretrain", $"out={temp.File("resumed")}", "epochs=2", "batch=16", $"checkpoints={checkpoints}");
        Assert.True(File.Exists(temp.File("resumed/weights.safetensors")));
    }

    private static void AssertCheckpointsComplete(string folder)
    {
        var files = Directory.GetFiles(folder);
        Assert.NotEmpty(files);
        // Only finished checkpoints carry the checkpoint name (a write in progress has a temporary one), and each loads whole.
        foreach (var file in files)
        {
            Assert.Matches(@"checkpoint-\d{9}\.safetensors$", Path.GetFileName(file));
            using var scope = NewDisposeScope();
            Assert.NotEmpty(SafeTensors.Load(file));
        }
    }
}
