using Microsoft.ML.Clip.Modeling;

namespace Microsoft.ML.Clip.Tests.Modeling;

/// <summary>Very small architectures for fixture-free tests.</summary>
internal static class TinyConfigs
{
    public static ClipConfig Micro { get; } = new()
    {
        EmbedDim = 16,
        Vision = new VisionConfig { ImageSize = 16, Layers = 1, Width = 32, HeadWidth = 16, PatchSize = 4 },
        Text = new TextConfig { ContextLength = 8, VocabSize = 50, Width = 32, Heads = 2, Layers = 1 },
    };
}
