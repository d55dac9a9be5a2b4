using System;
using System.Globalization;
using System.Linq;
using Microsoft.ML.Clip.Training;

namespace Microsoft.ML.Clip.Samples;

/// <summary>Prints ClipPretrain's progress: a line every <c>everySteps</c> steps and one per validation.</summary>
internal sealed class ConsoleTrainingProgress(int everySteps) : IProgress<ClipTrainingProgress>
{
    public void Report(ClipTrainingProgress p)
    {
        if (p.ZeroShotAccuracy is { } zeroShot)
            Console.WriteLine(string.Format(CultureInfo.InvariantCulture, "  step {0}/{1}: zero-shot accuracy {2}  [{3:mm\\:ss}]",
                p.Step, p.TotalSteps, string.Join(", ", zeroShot.Select(z => string.Format(CultureInfo.InvariantCulture, "{0} {1:P1}", z.Key, z.Value))), p.Elapsed));
        else if (p.ValidationRecallAt1 is double recall)
            Console.WriteLine(string.Format(CultureInfo.InvariantCulture, "  epoch {0}/{1}: validation Recall@1 (mean of both directions) {2:P1}  [{3:mm\\:ss}]",
                p.Epoch, p.Epochs, recall, p.Elapsed));
        else if (p.Step % everySteps == 0 || p.Step == p.TotalSteps)
            Console.WriteLine(string.Format(CultureInfo.InvariantCulture, "  step {0}/{1} loss {2:F3} lr {3:E1}  [{4:mm\\:ss}]",
                p.Step, p.TotalSteps, p.Loss, p.LearningRate, p.Elapsed));
    }
}
