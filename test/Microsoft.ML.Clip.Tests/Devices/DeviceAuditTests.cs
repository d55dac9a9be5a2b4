using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using Microsoft.ML.Clip.Modeling;
using Microsoft.ML.Clip.TestCommon;
using Microsoft.ML.Clip.Tokenization;
using Microsoft.ML.Clip.Torch;
using Microsoft.ML.Clip.Training;
using Microsoft.ML.Clip.Training.Objectives;
using Microsoft.ML.Clip.Training.Objectives.Filip;
using Microsoft.ML.Clip.Training.Objectives.SigLip;
using Microsoft.ML.Clip.Scoring;
using TorchSharp;
using Xunit;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace Microsoft.ML.Clip.Tests.Devices;

/// <summary>
/// The device-placement audit (see <see cref="TensorCreationObserver"/>): every tensor a training step or a scoring call
/// creates must be on the model's device, and a step reads the device back exactly twice (the figures that decide the
/// update, then the temperature for the log). Runs on the CPU; what it catches breaks or slows a GPU run.
/// </summary>
public class DeviceAuditTests(ITestOutputHelper output)
{
    private static readonly ClipConfig Config = new()
    {
        EmbedDim = 32,
        Vision = new VisionConfig { ImageSize = 16, Layers = 2, Width = 32, HeadWidth = 16, PatchSize = 4 },
        Text = new TextConfig { ContextLength = 8, VocabSize = 100, Width = 32, Heads = 2, Layers = 2 },
    };

    public static TheoryData<string, TrainingPrecision, int> Steps()
    {
        var data = new TheoryData<string, TrainingPrecision, int>();
        foreach (var objective in AllObjectives.Names)
            foreach (var precision in new[] { TrainingPrecision.Float32, TrainingPrecision.BFloat16Mixed })
                foreach (int micro in new[] { 0, 3 })
                    data.Add(objective, precision, micro);
        return data;
    }

    private static TrainingBatch Batch(int size = 8)
    {
        var generator = new Generator(5);
        var tokens = randint(1, 98, [size, 8], generator: generator);
        tokens[TensorIndex.Colon, 7] = 99; // end-of-text = largest id
        return new TrainingBatch(randn([size, 3, 16, 16], generator: generator), tokens);
    }

    /// <summary>Runs <paramref name="work"/> under the audit; returns what it recorded.</summary>
    private static IReadOnlyList<string> Audit(Action work)
    {
        using var observer = TensorCreationObserver.Watch(DeviceType.CPU);
        try
        {
            using (NewDisposeScope()) work();
        }
        catch (Exception e)
        {
            // A tensor made on meta and then used or copied fails the work; say which tensor and who made it.
            throw new InvalidOperationException($"{e.Message.Split('\n')[0]}\nTensors made off the model's device:\n{string.Join("\n", observer.Violations.Distinct())}", e);
        }
        Assert.True(observer.Seen > 0, "the observer saw no tensor: TorchSharp's dispose-scope hook no longer works");
        return observer.Violations;
    }

    [Theory]
    [MemberData(nameof(Steps))]
    public void TrainingStepsMakeEveryTensorOnTheModelsDeviceAndReadBackTwice(string name, TrainingPrecision precision, int micro)
    {
        var objective = AllObjectives.Create(name, wenLanQueueSize: 16);
        using var model = new ClipModel(objective.PrepareArchitecture(Config));
        var options = new ClipTrainerOptions { Precision = precision, MicroBatchSize = micro == 0 ? null : micro, WarmupSteps = 1 };
        using var trainer = new ClipTrainer(model, objective, options, totalSteps: 10);
        using var batch = Batch();
        trainer.Step(batch); // first step outside: optimizer state and kernel checks are created once, not per step
        long before = HostTransfer.Count;
        var violations = Audit(() => { trainer.Step(batch); trainer.Step(batch); });
        Assert.True(violations.Count == 0, $"{name}: tensors made off the model's device:\n{string.Join("\n", violations.Distinct())}");
        Assert.Equal(2 * 2, HostTransfer.Count - before);
    }

    [Fact]
    public void ScoringMakesEveryTensorOnTheModelsDevice()
    {
        foreach (var (scoring, objective) in new (ClipScoring, ClipObjective)[]
                 { (ClipScoring.GlobalCosine, new ContrastiveObjective()), (ClipScoring.SigmoidWithBias, new SigLipObjective()), (ClipScoring.TokenWise, new FilipObjective()) })
        {
            using var model = new ClipModel(objective.PrepareArchitecture(Config));
            model.eval();
            using var batch = Batch(4);
            var violations = Audit(() =>
            {
                using var noGrad = no_grad();
                var images = scoring.EncodeImages(model, batch.Pixels);
                var texts = scoring.EncodeTexts(model, batch.Tokens);
                var similarity = scoring.Similarity(images, texts);
                scoring.Probabilities(model, similarity);
                var classes = scoring.PrepareZeroShot(model, GlobalCosineEmbeddings(model, batch.Tokens), batch.Tokens, templates: 2);
                scoring.Probabilities(model, classes.Similarities(model, batch.Pixels));
            });
            Assert.True(violations.Count == 0, $"{scoring.Name}: tensors made off the model's device:\n{string.Join("\n", violations.Distinct())}");
        }
    }

    // Class embeddings [2, D] as a zero-shot stage computes them (two classes of two prompts each).
    private static Tensor GlobalCosineEmbeddings(ClipModel model, Tensor tokens) =>
        model.EncodeText(tokens, normalize: true).view(2, 2, -1).mean([1]);

    /// <summary>An objective with a planted device bug: a tensor made without <c>device:</c>, moved to the model's device.</summary>
    private sealed class HostNoiseObjective(bool move) : ClipObjective
    {
        private readonly ContrastiveObjective _inner = new();
        public override string Name => "planted";
        public override ObjectiveFeatures Encode(ClipModel model, TrainingBatch batch) => _inner.Encode(model, batch);
        public override Tensor Loss(ClipModel model, ObjectiveFeatures features, bool trainModelLevelParameters)
        {
            var noise = rand(features["image"].shape[0], 1); // the bug: no device
            var penalty = (move ? noise.to(model.Device) : noise).mul(features["image"]).mean();
            return ScalarSafe.Add(_inner.Loss(model, features, trainModelLevelParameters), penalty);
        }
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void TheAuditCatchesATensorMadeWithoutADevice(bool moved)
    {
        using var model = new ClipModel(Config);
        using var trainer = new ClipTrainer(model, new HostNoiseObjective(moved), new ClipTrainerOptions(), totalSteps: 3);
        using var batch = Batch();
        trainer.Step(batch); // outside the audit: the CPU kernel self-check of a new convolution signature runs once
        // On a GPU the planted tensor is made on the host: used as is it breaks the step (two devices), moved it costs a
        // copy each step. Under the audit both fail the step, naming the tensor and the method that made it.
        var error = Assert.Throws<InvalidOperationException>(() => Audit(() => trainer.Step(batch)));
        output.WriteLine(error.Message);
        Assert.Contains("META [8, 1] Float32 made by HostNoiseObjective.Loss", error.Message);
    }

    [Fact]
    public void HostReadsInsideStepsGoThroughHostTransfer()
    {
        // The static half of the audit: a read of device values (.item, .data, .cpu, To*) in training, scoring or model code
        // stops a GPU until its queue drains. Outside HostTransfer only these places may read, none of them per step:
        // checkpoint and state restores, the kernel self-check (CPU only) and the data-parallel exchange (MPI works on
        // host memory by design).
        var allowed = new Dictionary<string, int>
        {
            ["Training/AdamW.cs"] = 1,                          // LoadStateDict: the step count
            ["Scoring/ClipScoring.cs"] = 2,                     // ONNX export: the logit scale becomes a graph constant, once per export
            ["Scoring/GlobalCosineScoring.cs"] = 1,             // ONNX export: SigLIP's bias becomes a graph constant, once per export
            ["Modeling/ClipOnnxExporter.cs"] = 2,               // ONNX export: the logit scale and bias into the manifest, once per export
            ["Training/BestWeights.cs"] = 1,                    // KeepBestByZeroShot: a host snapshot when the watched score improves (per evaluation)
            ["Training/Locking/LockedTowerFeatures.cs"] = 2,    // CacheLockedTowerFeatures only: the cache lives in host memory (new rows'
                                                                // features copied once; input fingerprints read to match rows)
            ["Training/Objectives/Slip/SlipObjective.cs"] = 1,  // LoadStateDict
            ["Training/Objectives/Flip/FlipObjective.cs"] = 3,  // LoadStateDict
            ["Training/Objectives/WenLan/FeatureQueue.cs"] = 1, // Load
            ["Modeling/Kernels/KernelCheck.cs"] = 3,
            ["Training/Distributed/FeatureExchange.cs"] = 3,
            ["Training/Distributed/DataParallelStep.cs"] = 1,
            ["Training/Distributed/TrainingStateSync.cs"] = 2,
            ["Training/Distributed/GradientBuckets.cs"] = 2,
        };
        string library = Path.Combine(RepositoryRoot(), "src", "Microsoft.ML.Clip");
        var pattern = new System.Text.RegularExpressions.Regex(@"\.(item<|data<|cpu\(\)|ToSingle\(\)|ToDouble\(\)|ToInt64\(\)|ToBoolean\(\))");
        var found = new Dictionary<string, int>();
        foreach (var folder in new[] { "Training", "Scoring", "Modeling" })
            foreach (var file in Directory.EnumerateFiles(Path.Combine(library, folder), "*.cs", SearchOption.AllDirectories))
            {
                int count = File.ReadLines(file).Count(l => !l.TrimStart().StartsWith("//", StringComparison.Ordinal) && pattern.IsMatch(l));
                if (count > 0) found[Path.GetRelativePath(library, file).Replace('\\', '/')] = count;
            }
        var unexpected = found.Where(p => allowed.GetValueOrDefault(p.Key) < p.Value).Select(p => $"{p.Key}: {p.Value}").ToList();
        Assert.True(unexpected.Count == 0, "host reads outside HostTransfer (route them through it, or explain here why they are not per step):\n" + string.Join("\n", unexpected));
    }

    private static string RepositoryRoot([System.Runtime.CompilerServices.CallerFilePath] string path = "") =>
        Path.GetFullPath(Path.Combine(Path.GetDirectoryName(path)!, "..", "..", ".."));

    [Fact]
    public void CheckpointsAndBundlesLoadOntoTheTargetDevice()
    {
        // Written on one device (the CPU here), read into a model and optimizer on another: every tensor lands on the
        // target's device. meta stands in for a GPU (no data, but the placement is what is checked).
        using var dir = new TempDirectory();
        using var cpuModel = new ClipModel(Config);
        using var trainer = new ClipTrainer(cpuModel, new ContrastiveObjective(), new ClipTrainerOptions(), totalSteps: 2);
        using var batch = Batch();
        trainer.Step(batch);
        using var stream = new MemoryStream();
        TrainingCheckpoints.Write(stream, cpuModel, trainer.Optimizer, new Dictionary<string, Tensor>(), new TrainingPosition(0, 1, 1));

        var meta = new Device(DeviceType.META);
        using var target = new ClipModel(Config, meta);
        var optimizer = new AdamW(target.named_parameters().Select(p => new OptimizedParameter(p.name, p.parameter, 0)));
        stream.Position = 0;
        TrainingCheckpoints.Read(stream, "checkpoint", target, optimizer);
        Assert.All(target.parameters(), p => Assert.Equal(DeviceType.META, p.device_type));
        Assert.All(optimizer.StateDict().Where(p => p.Key != "step"), p => Assert.Equal(DeviceType.META, p.Value.device_type));
        Assert.Equal(1, optimizer.StepCount);

        var tokenizer = ClipBpeTrainer.Train(["a red circle", "a blue square"]);
        var config = Config with { Text = Config.Text with { VocabSize = tokenizer.VocabularySize } };
        using var source = new ClipModel(config);
        string weights = dir.File("model.safetensors");
        ClipWeights.Save(source, weights);
        var bundle = ClipModelBundle.Load(weights, config, tokenizer, device: meta);
        Assert.All(bundle.Model.parameters(), p => Assert.Equal(DeviceType.META, p.device_type));
        Assert.All(bundle.Model.buffers(), b => Assert.Equal(DeviceType.META, b.device_type));
        Assert.Equal(DeviceType.META, bundle.Model.Device.type);
    }
}
