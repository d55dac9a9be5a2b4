// Usage: DistributedProbe <mode> key=value ...
//   trainer  out=DIR steps=N batch=G [objective=clip|siglip|wenlan] [micro=M] [precision=bf16] [lock=image|text-but-last] [tower=vit|eva02|siglip] [fail=WHERE:RANK:STEP]
//            TrainingRun on deterministic tensors: with P processes, rank r trains on rows [r·G/P, (r+1)·G/P) of every
//            global batch. Every rank writes DIR/rank<r>.txt (one "step loss gradient-norm checksum" line per step); rank 0 writes
//            DIR/weights.safetensors. fail= makes rank RANK throw at step STEP in WHERE (encode or loss).
//   pretrain out=DIR epochs=E batch=G [checkpoints=DIR] [badrow=K] [kill-after-checkpoint=R] [stop-after=S] [precision=bf16]
//            ClipPretrain on the built-in shapes data; rank 0 writes DIR/weights.safetensors and DIR/losses.txt.
//            badrow=K makes row K unreadable; kill-after-checkpoint=R kills rank R once a checkpoint exists;
//            stop-after=S cancels rank 0 after step S.
// Exit code 0 on success; 4 when cancelled; 3 with "rank r: <exception>" on stderr when training failed.
using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Threading;
using Microsoft.ML.Clip.SampleData;
using Microsoft.ML;
using Microsoft.ML.Clip;
using Microsoft.ML.Clip.Datasets;
using Microsoft.ML.Clip.Distributed;
using Microsoft.ML.Clip.Modeling;
using Microsoft.ML.Clip.Tokenization;
using Microsoft.ML.Clip.Training;
using Microsoft.ML.Clip.Training.Distributed;
using Microsoft.ML.Clip.Training.Objectives;
using Microsoft.ML.Clip.Training.Objectives.SigLip;
using Microsoft.ML.Clip.Training.Objectives.WenLan;
using Microsoft.ML.Clip.Weights;
using Microsoft.ML.Data;
using static TorchSharp.torch;

var settings = args.Skip(1).Select(a => a.Split('=', 2)).ToDictionary(p => p[0], p => p.Length > 1 ? p[1] : "");
string Get(string key, string fallback = "") => settings.TryGetValue(key, out var v) ? v : fallback;
int GetInt(string key, int fallback) => int.Parse(Get(key, fallback.ToString(CultureInfo.InvariantCulture)), CultureInfo.InvariantCulture);
set_num_threads(1); // the same arithmetic in every run, whatever the machine's load

var group = MpiProcessGroup.IsLaunchedByMpi ? MpiProcessGroup.World : null;
int rank = group?.Rank ?? 0;
string outDir = Get("out");
Directory.CreateDirectory(outDir);
var precision = Get("precision") == "bf16" ? TrainingPrecision.BFloat16Mixed : TrainingPrecision.Float32;
try
{
    switch (args.FirstOrDefault())
    {
        case "trainer": Trainer(); break;
        case "pretrain": Pretrain(); break;
        default: Console.Error.WriteLine("usage: DistributedProbe trainer|pretrain key=value ..."); return 2;
    }
}
catch (OperationCanceledException error)
{
    Console.Error.WriteLine($"rank {rank}: cancelled: {error.Message}");
    return 4;
}
catch (Exception error)
{
    Console.Error.WriteLine($"rank {rank}: {error.GetType().Name}: {error.Message}");
    return 3;
}
return 0;

void Trainer()
{
    int steps = GetInt("steps", 4), batch = GetInt("batch", 8);
    int processes = group?.Size ?? 1, local = batch / processes;
    ClipObjective objective = Get("objective", "clip") switch
    {
        "siglip" => new SigLipObjective(),
        "wenlan" => new WenLanObjective(new WenLanOptions { QueueSize = 2 * batch }),
        _ => new ContrastiveObjective(),
    };
    if (Get("fail").Split(':') is [var where, var failRank, var failStep])
        objective = new FailingObjective(objective, where, int.Parse(failRank, CultureInfo.InvariantCulture) == rank ? int.Parse(failStep, CultureInfo.InvariantCulture) : -1);
    var config = objective.PrepareArchitecture(TinyConfig(vocab: 64, Get("tower", "vit")));
    manual_seed(7);
    using var model = new ClipModel(config, CPU);
    var options = new ClipTrainerOptions { LearningRate = 1e-3, WarmupSteps = 1, Precision = precision, MicroBatchSize = settings.ContainsKey("micro") ? GetInt("micro", 0) : null };
    options = Get("lock", "none") switch
    {
        "image" => options with { ImageTowerLock = TowerLock.Full },
        "text-but-last" => options with { TextTowerLock = TowerLock.AllButLast(1) },
        _ => options,
    };
    using var log = new StreamWriter(Path.Combine(outDir, $"rank{rank}.txt"));
    // One epoch of `steps` global batches through the same TrainingRun as ClipPretrain; each process keeps its rows.
    var source = new FunctionBatchSource((long)steps * batch, (_, step) =>
    {
        if (step >= steps) return null;
        using var scope = NewDisposeScope();
        var (pixels, tokens) = GlobalBatch((int)step, batch, config);
        int rows = group is null ? batch : local;
        return SourceBatch.FromTensors(pixels.narrow(0, rank * local, rows).clone().DetachFromDisposeScope(),
            tokens.narrow(0, rank * local, rows).clone().DetachFromDisposeScope());
    });
    var run = new TrainingRun(model, objective, new TrainingRunOptions { Epochs = 1, BatchSize = batch, Trainer = options }, group, new TrainingRunHooks
    {
        StepCompleted = result => log.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{result.Step} {result.Loss:R} {result.GradientNorm:R} {TrainingStateSync.Checksum(model):x16}")),
    });
    run.Run(source);
    if (rank == 0) ClipWeights.Save(model, Path.Combine(outDir, "weights.safetensors"));
}

void Pretrain()
{
    var mlContext = new MLContext(seed: 1);
    var shapes = ShapesDataset.ToDataView(mlContext, new ShapesDatasetOptions { Count = 96, Seed = 1, ImageSize = 32, Split = ShapesSplit.All });
    var tokenizer = ClipBpeTrainer.Train(shapes.GetColumn<string>(ShapesColumns.Caption), new ClipBpeTrainerOptions { VocabularySize = 600 });
    IDataView data = shapes;
    if (settings.ContainsKey("badrow"))
    {
        int bad = GetInt("badrow", 0);
        var images = shapes.GetColumn<byte[]>(ShapesColumns.ImageBytes).ToList();
        var captions = shapes.GetColumn<string>(ShapesColumns.Caption).ToList();
        images[bad] = [1, 2, 3, 4, 5, 6, 7, 8];
        data = mlContext.Data.LoadFromEnumerable(images.Zip(captions, (i, c) => new Pair { ImageBytes = i, Caption = c }));
    }
    string? checkpoints = settings.TryGetValue("checkpoints", out var c) ? c : null;
    if (settings.ContainsKey("kill-after-checkpoint") && GetInt("kill-after-checkpoint", -1) == rank && checkpoints is not null)
    {
        // A process that dies without a word (as on a lost machine): once rank 0 has written a checkpoint.
        new Thread(() =>
        {
            while (!Directory.Exists(checkpoints) || Directory.GetFiles(checkpoints, "checkpoint-*.safetensors").Length == 0) Thread.Sleep(20);
            Environment.FailFast("killed by the test");
        }) { IsBackground = true }.Start();
    }
    var losses = new List<string>();
    using var cancel = new CancellationTokenSource();
    int stopAfter = GetInt("stop-after", -1);
    var model = mlContext.Transforms.ClipPretrain(new ClipPretrainOptions
    {
        Architecture = TinyConfig(tokenizer.VocabularySize),
        Tokenizer = tokenizer,
        ImageColumnName = ShapesColumns.ImageBytes,
        TextColumnName = ShapesColumns.Caption,
        Epochs = GetInt("epochs", 2),
        BatchSize = GetInt("batch", 16),
        ValidationFraction = 0,
        Trainer = new ClipTrainerOptions { LearningRate = 1e-3, WarmupSteps = 2, Precision = precision },
        Seed = 1,
        CheckpointDirectory = checkpoints,
        CheckpointEverySteps = checkpoints is null ? 0 : 1,
        Progress = new Progress(losses, step => { if (step == stopAfter) cancel.Cancel(); }),
        CancellationToken = cancel.Token,
    }).Fit(data);
    var report = model.TrainingReport!;
    Console.WriteLine($"rank {rank}: done, {report.Steps} steps on {report.Processes} processes");
    if (report.IsMainProcess)
    {
        ClipWeights.Save(model.Bundle.Model, Path.Combine(outDir, "weights.safetensors"));
        File.WriteAllLines(Path.Combine(outDir, "losses.txt"), report.Losses.Select(l => string.Create(CultureInfo.InvariantCulture, $"{l.Step} {l.Loss:R}")));
    }
}

static ClipConfig TinyConfig(int vocab, string tower = "vit")
{
    var config = new ClipConfig
    {
        EmbedDim = 32,
        Vision = new VisionConfig { ImageSize = 32, Layers = 1, Width = 64, HeadWidth = 32, PatchSize = 8 },
        Text = new TextConfig { ContextLength = 24, VocabSize = vocab, Width = 64, Heads = 2, Layers = 1 },
    };
    // The timm trunks at the family fixtures' sizes (EVA02-CLIP's projection head; SigLIP's pooled width as embedding).
    return tower switch
    {
        "eva02" => config with
        {
            CustomText = true,
            Vision = new VisionConfig
            {
                ImageSize = 32,
                Timm = new TimmVisionConfig
                {
                    ModelName = "eva02_tiny_probe",
                    Architecture = new Eva02Architecture { ImageSize = 32, PatchSize = 8, Width = 64, Depth = 2, Heads = 4, MlpRatio = 8 / 3.0, ReferenceGrid = 4 },
                },
            },
        },
        "siglip" => config with
        {
            EmbedDim = 64,
            CustomText = true,
            Vision = new VisionConfig
            {
                ImageSize = 32,
                Timm = new TimmVisionConfig
                {
                    ModelName = "vit_tiny_probe_siglip",
                    Architecture = new SigLipVitArchitecture { ImageSize = 32, PatchSize = 8, Width = 64, Depth = 2, Heads = 4 },
                    HeadProjection = false,
                },
            },
            Text = config.Text with { CausalMask = false, Pooling = TextPooling.Last, ProjectionBias = true, LayerNormEps = 1e-6 },
        },
        _ => config,
    };
}

// The same global batch on every process: random pixels and captions (start, 1–20 random tokens, end) from the step.
static (Tensor Pixels, Tensor Tokens) GlobalBatch(int step, int batch, ClipConfig config)
{
    var generator = new TorchSharp.torch.Generator((ulong)(1000 + step));
    var pixels = randn([batch, 3, config.Vision.ImageSize, config.Vision.ImageSize], generator: generator);
    int vocab = config.Text.VocabSize, context = config.Text.ContextLength;
    var tokens = new long[batch * context];
    var random = new Random(step);
    for (int i = 0; i < batch; i++)
    {
        int length = random.Next(1, 21);
        tokens[i * context] = vocab - 2;
        for (int j = 1; j <= length; j++) tokens[i * context + j] = random.Next(1, vocab - 2);
        tokens[i * context + length + 1] = vocab - 1;
    }
    return (pixels, tensor(tokens, [batch, context]));
}

sealed class Pair
{
    [VectorType] public byte[] ImageBytes { get; set; } = [];
    public string Caption { get; set; } = "";
}

sealed class Progress(List<string> lines, Action<long> afterStep) : IProgress<ClipTrainingProgress>
{
    public void Report(ClipTrainingProgress p)
    {
        lines.Add($"step {p.Step}");
        afterStep(p.Step);
    }
}

// Delegates to an objective and throws on one rank at one step, in encoding or in the loss.
sealed class FailingObjective(ClipObjective inner, string where, int failAtStep) : ClipObjective
{
    private int _step;
    public override string Name => inner.Name;
    public override ClipConfig PrepareArchitecture(ClipConfig config) => inner.PrepareArchitecture(config);
    public override void Initialize(ClipModel model, Device device) => inner.Initialize(model, device);
    public override ObjectiveFeatures Encode(ClipModel model, TrainingBatch batch)
    {
        if (where == "encode" && _step == failAtStep) throw new InvalidOperationException($"injected failure in encoding at step {_step}");
        return inner.Encode(model, batch);
    }
    public override Tensor Loss(ClipModel model, ObjectiveFeatures features, bool trainModelLevelParameters) => inner.Loss(model, features, trainModelLevelParameters);
    public override Tensor LocalLoss(ClipModel model, ObjectiveFeatures features, long start, long count, bool trainModelLevelParameters)
    {
        if (where == "loss" && _step == failAtStep) throw new InvalidOperationException($"injected failure in the loss at step {_step}");
        return inner.LocalLoss(model, features, start, count, trainModelLevelParameters);
    }
    public override void AfterStep(ClipModel model, ObjectiveFeatures? batchFeatures)
    {
        _step++;
        inner.AfterStep(model, batchFeatures);
    }
}
