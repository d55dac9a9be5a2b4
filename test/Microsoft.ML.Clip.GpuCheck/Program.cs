using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Text.Json;
using Microsoft.ML.Clip.Diagnostics;
using Microsoft.ML.Clip.Modeling;
using Microsoft.ML.Clip.TestCommon;
using Microsoft.ML.Clip.Training;
using Microsoft.ML.Clip.Training.Objectives;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Clip.GpuCheck;

/// <summary>
/// <c>GpuCheck [--device cuda|cpu] [--bench-steps N] [--bench-batch B]</c>: compares the device with the CPU and
/// benchmarks ViT-B-32 training there. Each result is one JSON line; the exit code is 1 when a check fails.
/// </summary>
internal static class Program
{
    private static bool s_failed;

    private static readonly ClipConfig Small = new()
    {
        EmbedDim = 64,
        Vision = new VisionConfig { ImageSize = 32, Layers = 2, Width = 64, HeadWidth = 32, PatchSize = 8 },
        Text = new TextConfig { ContextLength = 16, VocabSize = 512, Width = 64, Heads = 2, Layers = 2 },
    };

    public static int Main(string[] args)
    {
        string deviceName = Arg(args, "--device") ?? (cuda.is_available() ? "cuda" : "cpu");
        int benchSteps = int.Parse(Arg(args, "--bench-steps") ?? "20");
        int benchBatch = int.Parse(Arg(args, "--bench-batch") ?? (deviceName == "cpu" ? "8" : "256"));
        var device = new Device(deviceName);
        Report("environment", ("device", deviceName), ("cuda_available", cuda.is_available()), ("torchsharp", typeof(Tensor).Assembly.GetName().Version!.ToString()));
        ForwardAndGradients(device);
        foreach (var name in AllObjectives.Names) ShortTraining(name, device);
        CheckpointAcrossDevices(device);
        Benchmark(device, benchBatch, benchSteps);
        Report("done", ("failed", s_failed));
        return s_failed ? 1 : 0;
    }

    private static TrainingBatch Batch(ClipConfig config, int size, int seed)
    {
        var generator = new Generator((ulong)seed);
        var tokens = randint(1, config.Text.VocabSize - 2, [size, config.Text.ContextLength], generator: generator);
        tokens[TensorIndex.Colon, config.Text.ContextLength - 1] = config.Text.VocabSize - 1; // end-of-text = largest id
        return new TrainingBatch(randn([size, 3, config.Vision.ImageSize, config.Vision.ImageSize], generator: generator), tokens);
    }

    /// <summary>Forward features and the CLIP loss's parameter gradients of one model on the CPU and on the device.</summary>
    private static void ForwardAndGradients(Device device)
    {
        manual_seed(1);
        using var cpuModel = new ClipModel(Small);
        using var deviceModel = cpuModel.Copy(device);
        using var batch = Batch(Small, 16, 2);
        using var onDevice = batch.To(device);
        var objective = new ContrastiveObjective();
        var (cpuLoss, cpuGrads) = LossAndGrads(cpuModel, objective, batch);
        var (devLoss, devGrads) = LossAndGrads(deviceModel, objective, onDevice);
        double worst = cpuGrads.Keys.Max(k => RelativeError(cpuGrads[k], devGrads[k]));
        // fp32 on both, but cuDNN convolutions may use TF32 (10-bit mantissa) by default: ~1e-3 relative on the patch
        // embedding, carried through both towers. 1e-2 relative (to each tensor's largest entry) still catches a
        // wrong device copy, a lost gradient or a different mask (order-one differences).
        Check("forward-and-gradients", Math.Abs(cpuLoss - devLoss) <= 1e-3 * Math.Abs(cpuLoss) && worst <= 1e-2,
            ("cpu_loss", cpuLoss), ("device_loss", devLoss), ("worst_gradient_relative_error", worst));
    }

    private static (double, Dictionary<string, Tensor>) LossAndGrads(ClipModel model, ClipObjective objective, TrainingBatch batch)
    {
        model.train();
        foreach (var p in model.parameters()) p.grad?.zero_();
        using var scope = NewDisposeScope();
        objective.Initialize(model, model.Device);
        using var features = objective.Encode(model, batch);
        var loss = objective.Loss(model, features, trainModelLevelParameters: true);
        loss.backward();
        var grads = model.named_parameters().Where(p => p.parameter.grad is not null)
            .ToDictionary(p => p.name, p => p.parameter.grad!.cpu().clone().DetachFromDisposeScope());
        return (loss.cpu().item<float>(), grads);
    }

    private static double RelativeError(Tensor a, Tensor b)
    {
        using var scope = NewDisposeScope();
        double scale = Math.Max(a.abs().max().item<float>(), 1e-12);
        return (a - b).abs().max().item<float>() / scale;
    }

    /// <summary>Five steps of <paramref name="name"/> from the same weights and batches on the CPU and on the device.</summary>
    private static void ShortTraining(string name, Device device)
    {
        var objective = AllObjectives.Create(name, wenLanQueueSize: 64);
        var config = objective.PrepareArchitecture(Small);
        manual_seed(3);
        using var cpuModel = new ClipModel(config);
        using var deviceModel = cpuModel.Copy(device);
        var cpu = Train(cpuModel, objective, config, CPU);
        var dev = Train(deviceModel, AllObjectives.Create(name, wenLanQueueSize: 64), config, device);
        double worst = cpu.Zip(dev, (a, b) => Math.Abs(a - b) / Math.Max(Math.Abs(a), 1e-6)).Max();
        // MaskCLIP and EVA-CLIP draw their patch subsets, WenLan its initial queue, from the device's own generator,
        // which differs between the CPU and a GPU: their losses are compared loosely (same scale, finite). The others
        // draw the same on every device (FLIP's counter-based masks, SLIP's seeded host augmentations): 1e-2 relative
        // over five steps bounds TF32 convolution rounding amplified by five updates.
        bool random = name is "maskclip" or "eva-clip" or "wenlan";
        bool ok = dev.All(double.IsFinite) && worst <= (random ? 0.5 : 1e-2);
        Check($"train-{name}", ok, ("cpu_losses", cpu), ("device_losses", dev), ("worst_relative_difference", worst), ("compared", random ? "loosely (device RNG)" : "closely"));
    }

    private static double[] Train(ClipModel model, ClipObjective objective, ClipConfig config, Device device)
    {
        var options = new ClipTrainerOptions { LearningRate = 1e-3, WarmupSteps = 1, MicroBatchSize = 8 };
        manual_seed(7); // objective state drawn on the host (SLIP's head) starts the same for both runs
        using var trainer = new ClipTrainer(model, objective, options, totalSteps: 5);
        var losses = new List<double>();
        for (int step = 0; step < 5; step++)
        {
            using var batch = Batch(config, 16, 10 + step);
            using var onDevice = batch.To(device);
            losses.Add(trainer.Step(onDevice).Loss);
        }
        return losses.ToArray();
    }

    /// <summary>A checkpoint written on the device resumes on the CPU and back, with identical weights.</summary>
    private static void CheckpointAcrossDevices(Device device)
    {
        manual_seed(4);
        using var deviceModel = new ClipModel(Small, device);
        using var trainer = new ClipTrainer(deviceModel, new ContrastiveObjective(), new ClipTrainerOptions(), totalSteps: 2);
        using (var batch = Batch(Small, 8, 5)) using (var onDevice = batch.To(device)) trainer.Step(onDevice);
        using var stream = new MemoryStream();
        TrainingCheckpoints.Write(stream, deviceModel, trainer.Optimizer, new Dictionary<string, Tensor>(), new TrainingPosition(0, 1, 1));
        using var cpuModel = new ClipModel(Small);
        using var cpuTrainer = new ClipTrainer(cpuModel, new ContrastiveObjective(), new ClipTrainerOptions(), totalSteps: 2);
        stream.Position = 0;
        TrainingCheckpoints.Read(stream, "device checkpoint", cpuModel, cpuTrainer.Optimizer);
        bool same = cpuModel.named_parameters().Zip(deviceModel.named_parameters()).All(p => p.First.parameter.eq(p.Second.parameter.cpu()).all().item<bool>());
        using var back = new MemoryStream();
        TrainingCheckpoints.Write(back, cpuModel, cpuTrainer.Optimizer, new Dictionary<string, Tensor>(), new TrainingPosition(0, 1, 1));
        using var again = new ClipModel(Small, device);
        using var againTrainer = new ClipTrainer(again, new ContrastiveObjective(), new ClipTrainerOptions(), totalSteps: 2);
        back.Position = 0;
        TrainingCheckpoints.Read(back, "cpu checkpoint", again, againTrainer.Optimizer);
        same &= again.named_parameters().Zip(deviceModel.named_parameters()).All(p => p.First.parameter.eq(p.Second.parameter).all().item<bool>());
        Check("checkpoint-device-cpu-device", same && againTrainer.StepCount == 1, ("identical_weights", same), ("step", againTrainer.StepCount));
    }

    /// <summary>
    /// ViT-B-32 bf16-mixed training steps: samples/s and model FLOP/s against the measured bf16 matmul rate. On a CPU
    /// without bf16 instructions (where libtorch's bf16 products are a single-threaded reference loop, minutes per step)
    /// the steps and the rate are fp32.
    /// </summary>
    private static void Benchmark(Device device, int batchSize, int steps)
    {
        var config = ClipPresets.Get("ViT-B-32");
        bool bf16 = device.type == DeviceType.CUDA || CpuInfo.Detect().HasFastBFloat16;
        double matmul = MatmulRate(device, device.type == DeviceType.CUDA ? 8192 : 2048, bf16 ? ScalarType.BFloat16 : ScalarType.Float32);
        manual_seed(5);
        using var model = new ClipModel(config, device);
        using var trainer = new ClipTrainer(model, new ContrastiveObjective(), new ClipTrainerOptions { Precision = bf16 ? TrainingPrecision.BFloat16Mixed : TrainingPrecision.Float32 }, totalSteps: steps + 2);
        // Batches are prepared on the host by a producer thread (as a data pipeline would hand them over) and
        // uploaded per step; the time the step loop waits for the producer is reported as data wait.
        var queue = new System.Collections.Concurrent.BlockingCollection<TrainingBatch>(boundedCapacity: 2);
        var producer = System.Threading.Tasks.Task.Run(() => { for (int i = 0; i < steps + 2; i++) queue.Add(Batch(config, batchSize, 100 + i)); queue.CompleteAdding(); });
        double waited = 0, total = 0;
        for (int i = 0; i < steps + 2; i++)
        {
            var wait = Stopwatch.StartNew();
            using var batch = queue.Take();
            if (i >= 2) waited += wait.Elapsed.TotalSeconds;
            var watch = Stopwatch.StartNew();
            using var onDevice = batch.To(device);
            trainer.Step(onDevice); // returns after its host reads: the device has finished the step
            if (i >= 2) total += watch.Elapsed.TotalSeconds + wait.Elapsed.TotalSeconds;
        }
        producer.Wait();
        double flops = 3 * ForwardFlops(config) * batchSize; // forward + backward ≈ 3 × forward
        double rate = flops * steps / total;
        Report("vit-b-32-train", ("device", device.ToString()), ("precision", bf16 ? "bf16-mixed" : "fp32"), ("batch", batchSize), ("steps", steps), ("samples_per_s", batchSize * steps / total),
            ("model_tflops", rate / 1e12), ("matmul_tflops", matmul / 1e12), ("fraction_of_matmul", rate / matmul), ("data_wait_fraction", waited / total));
    }

    /// <summary>Matrix-product FLOPs of one sample's forward pass (both towers; attention scores included).</summary>
    private static double ForwardFlops(ClipConfig c)
    {
        static double Tower(long tokens, long width, long layers, double mlp) =>
            layers * (2.0 * tokens * width * width * (4 + 2 * mlp) + 4.0 * tokens * tokens * width);
        long grid = c.Vision.ImageSize / c.Vision.PatchSize, patches = grid * grid;
        double vision = Tower(patches + 1, c.Vision.Width, c.Vision.Layers, c.Vision.MlpRatio)
            + 2.0 * patches * 3 * c.Vision.PatchSize * c.Vision.PatchSize * c.Vision.Width + 2.0 * c.Vision.Width * c.EmbedDim;
        double text = Tower(c.Text.ContextLength, c.Text.Width, c.Text.Layers, c.Text.MlpRatio) + 2.0 * c.Text.Width * c.EmbedDim;
        return vision + text;
    }

    private static double MatmulRate(Device device, int n, ScalarType dtype)
    {
        using var scope = NewDisposeScope();
        var a = randn([n, n], dtype, device);
        var b = randn([n, n], dtype, device);
        for (int i = 0; i < 3; i++) a.matmul(b).sum().to(ScalarType.Float32).item<float>();
        int reps = device.type == DeviceType.CUDA ? 20 : 3;
        var watch = Stopwatch.StartNew();
        Tensor last = a;
        for (int i = 0; i < reps; i++) last = a.matmul(b);
        last.sum().to(ScalarType.Float32).item<float>(); // waits for the queue
        return 2.0 * n * n * n * reps / watch.Elapsed.TotalSeconds;
    }

    private static void Check(string name, bool ok, params (string, object)[] fields)
    {
        s_failed |= !ok;
        Report(name, [("ok", ok), .. fields]);
    }

    private static void Report(string name, params (string Key, object Value)[] fields)
    {
        var record = new Dictionary<string, object> { ["check"] = name };
        foreach (var (key, value) in fields) record[key] = value is double d ? Math.Round(d, 6) : value;
        Console.WriteLine(JsonSerializer.Serialize(record));
    }

    private static string? Arg(string[] args, string name)
    {
        int i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length ? args[i + 1] : null;
    }
}
