using System.Collections.Generic;
using System.Linq;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Microsoft.ML.Clip.Modeling;

/// <summary>
/// A stack of <see cref="ResidualAttentionBlock"/>s, batch first, named <c>resblocks.N</c> as open_clip's
/// <c>Transformer</c>.
/// </summary>
internal sealed partial class Transformer : nn.Module<Tensor, Tensor?, Tensor>
{
    private ModuleList<ResidualAttentionBlock> resblocks;

    /// <summary>Creates <paramref name="layers"/> blocks of <paramref name="width"/> features.</summary>
    /// <param name="width">Feature width.</param>
    /// <param name="layers">Number of blocks.</param>
    /// <param name="heads">Attention heads.</param>
    /// <param name="mlpRatio">MLP hidden width relative to <paramref name="width"/>.</param>
    /// <param name="activation">The MLP activation.</param>
    /// <param name="device">Parameter device.</param>
    /// <param name="dtype">Parameter dtype.</param>
    /// <param name="layerNormEps">The layer norms' epsilon (open_clip <c>norm_kwargs.eps</c>).</param>
    public Transformer(long width, int layers, long heads, double mlpRatio, MlpActivation activation, Device? device = null, ScalarType? dtype = null,
                       double layerNormEps = ClipLayerNorm.DefaultEps)
        : base(nameof(Transformer))
    {
        Width = width;
        resblocks = new ModuleList<ResidualAttentionBlock>(Enumerable.Range(0, layers)
            .Select(_ => ResidualAttentionBlock.OpenClip(width, heads, mlpRatio, activation, device, dtype, layerNormEps)).ToArray());
        RegisterComponents();
    }

    /// <summary>Feature width.</summary>
    public long Width { get; }

    /// <summary>Number of blocks.</summary>
    public int Layers => resblocks.Count;

    /// <summary>The blocks, in order.</summary>
    public IReadOnlyList<ResidualAttentionBlock> Blocks => resblocks.ToList();

    /// <summary>
    /// Whether a training forward pass with gradients keeps only each block's input and recomputes the block in the
    /// backward pass (<see cref="ActivationCheckpoint"/>). Inference and passes without gradients are unaffected.
    /// </summary>
    public bool CheckpointActivations { get; set; }

    /// <summary>Runs every block on <paramref name="x"/> [N, L, width] with an optional additive mask [L, L].</summary>
    public override Tensor forward(Tensor x, Tensor? attnMask) =>
        ActivationCheckpoint.RunBlocks(resblocks, x, attnMask, CheckpointActivations && training);
}
