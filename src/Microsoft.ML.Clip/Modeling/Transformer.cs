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
    public Transformer(long width, int layers, long heads, double mlpRatio, bool quickGelu, Device? device = null, ScalarType? dtype = null)
        : base(nameof(Transformer))
    {
        Width = width;
        resblocks = new ModuleList<ResidualAttentionBlock>(Enumerable.Range(0, layers)
            .Select(_ => new ResidualAttentionBlock(width, heads, mlpRatio, quickGelu, device, dtype)).ToArray());
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
    public override Tensor forward(Tensor x, Tensor? attnMask)
    {
        bool checkpoint = CheckpointActivations && training && is_grad_enabled();
        var h = x;
        foreach (var block in resblocks)
        {
            var next = checkpoint ? ActivationCheckpoint.Run(block, h, attnMask) : block.forward(h, attnMask);
            if (!ReferenceEquals(h, x)) h.Dispose();
            h = next;
        }
        return ReferenceEquals(h, x) ? x.alias() : h;
    }
}
