using System.Linq;
using Microsoft.ML.Clip.Modeling;
using Microsoft.ML.Clip.Training;
using Microsoft.ML.Clip.Training.Objectives;
using static TorchSharp.torch;

namespace Microsoft.ML.Clip.Benchmarks;

/// <summary>
/// What a locked tower saves (issue: fine-tuning): the train-small step (ClipPresets.Small, batch 64, fp32, CLIP loss)
/// with every weight trained; with the image tower locked (LiT), its features computed without autograd every step; with
/// them cached by row id (a later epoch: only the text tower runs); with the text tower locked and cached; and the
/// image tower alone under no_grad, for comparison. One JSON line each.
/// </summary>
internal static class LockedTowerBenchmark
{
    public static void Run(int batch = 64, int repetitions = 5)
    {
        var config = ClipPresets.Small;
        using var pixels = randn(batch, 3, config.Vision.ImageSize, config.Vision.ImageSize);
        using var tokens = randint(1, 49000, new long[] { batch, config.Text.ContextLength });
        tokens[TensorIndex.Colon, 20] = 49407;
        long[] ids = Enumerable.Range(0, batch).Select(i => (long)i).ToArray();
        double baseline = 0;
        foreach (var (name, image, text, cache) in new (string, TowerLock?, TowerLock?, bool)[]
        {
            ("all-trained", null, null, false),
            ("image-locked", TowerLock.Full, null, false),
            ("image-locked-cached", TowerLock.Full, null, true),
            ("text-locked-cached", null, TowerLock.Full, true),
            ("image-locked-all-but-last-block", TowerLock.AllButLast(1), null, false),
        })
        {
            manual_seed(0);
            using var model = new ClipModel(config);
            using var trainer = new ClipTrainer(model, new ContrastiveObjective(),
                new ClipTrainerOptions { LearningRate = 1e-4, WarmupSteps = 1, ImageTowerLock = image, TextTowerLock = text, CacheLockedTowerFeatures = cache }, 1000);
            using var data = new TrainingBatch(pixels.clone(), tokens.clone(), ids); // the batch owns (and disposes) its tensors
            // The warm-up steps fill the cache, as the first epoch would.
            double seconds = Measure.MedianSeconds(() => trainer.Step(data), warmup: 2, repetitions: repetitions);
            if (baseline == 0) baseline = seconds;
            Measure.Report($"train-small-{name}", ("step_s", seconds), ("samples_per_s", batch / seconds), ("batch", batch),
                ("relative_to_all_trained", seconds / baseline), ("trained_parameters_m", trainer.TrainableParameterCount / 1e6));
        }
        using (var model = new ClipModel(config))
        using (no_grad())
        {
            double image = Measure.MedianSeconds(() => { using var f = model.EncodeImage(pixels, normalize: true); }, warmup: 2, repetitions: repetitions);
            double text = Measure.MedianSeconds(() => { using var f = model.EncodeText(tokens, normalize: true); }, warmup: 2, repetitions: repetitions);
            Measure.Report("train-small-forward-no-grad", ("image_tower_s", image), ("text_tower_s", text), ("batch", batch));
        }
    }
}
