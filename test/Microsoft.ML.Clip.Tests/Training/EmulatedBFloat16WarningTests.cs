using System.Collections.Generic;
using System.Linq;
using Microsoft.ML.Clip.Diagnostics;
using Microsoft.ML.Clip.Modeling;
using Microsoft.ML.Clip.Tests.Modeling;
using Microsoft.ML.Clip.Tests.Pipeline;
using Microsoft.ML.Clip.Tokenization;
using Microsoft.ML.Clip.Training;
using Microsoft.ML.Runtime;
using Xunit;

namespace Microsoft.ML.Clip.Tests.Training;

/// <summary>
/// bf16 mixed precision on a CPU without bf16 instructions runs libtorch's single-threaded reference loop for every
/// matrix product: ClipPretrain warns at the start, and only then (not for fp32, not where the CPU has bf16).
/// </summary>
public class EmulatedBFloat16WarningTests
{
    [Theory]
    [InlineData(TrainingPrecision.BFloat16Mixed)]
    [InlineData(TrainingPrecision.Float32)]
    public void PretrainWarnsOnlyWhenBFloat16WouldBeEmulated(TrainingPrecision precision)
    {
        var ml = new MLContext(seed: 1);
        var warnings = new List<string>();
        ml.Log += (_, e) => { if (e.Kind == ChannelMessageKind.Warning) lock (warnings) warnings.Add(e.Message); };
        var tokenizer = ClipBpeTrainer.Train(ColourPairs.Rows(16).Select(r => r.Text).ToArray(),
            new ClipBpeTrainerOptions { VocabularySize = 600 });
        var architecture = TinyConfigs.Micro with { Text = TinyConfigs.Micro.Text with { VocabSize = tokenizer.VocabularySize } };
        ml.Transforms.ClipPretrain(new ClipPretrainOptions
        {
            Architecture = architecture,
            Tokenizer = tokenizer,
            ImageColumnName = "ImageBytes",
            Epochs = 1,
            BatchSize = 8,
            Trainer = new ClipTrainerOptions { Precision = precision },
        }).Fit(ColourPairs.DataView(ml, 16));

        bool expected = precision == TrainingPrecision.BFloat16Mixed && !CpuInfo.Detect().HasFastBFloat16;
        Assert.Equal(expected, warnings.Any(w => w.Contains("without bf16 instructions", System.StringComparison.Ordinal)));
    }
}
