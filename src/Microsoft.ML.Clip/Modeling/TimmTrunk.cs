using System;
using System.Collections.Generic;
using System.Linq;
using Microsoft.ML.Clip.Torch;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Microsoft.ML.Clip.Modeling;

/// <summary>
/// What the timm image trunks share (<c>visual.trunk</c>): the patch embedding <c>patch_embed</c>, the learned
/// positional embedding <c>pos_embed</c>, patch dropout, pre-norm blocks <c>blocks.N</c>, the final norm <c>norm</c>
/// and the classifier head <c>head</c> used as projection when open_clip's <c>timm_proj</c> is null. A family
/// supplies its blocks and what differs: the tokens in front of the patches, the blocks' second input and the pooling.
/// </summary>
internal abstract partial class TimmTrunk : nn.Module<Tensor, Tensor>, ITokenImageTower, ICheckpointableTower, IDescribedTower
{
    // Field names are the state-dict names (timm's). pos_embed is not readonly: Module.to() replaces parameters.
    private readonly PatchEmbedding patch_embed;
    private Parameter pos_embed;
    private readonly PatchDropout patch_drop;
    private readonly ModuleList<ResidualAttentionBlock> blocks;
    private readonly ClipLayerNorm norm;
    private readonly Linear? head;

    /// <summary>Creates the shared parts; the family's constructor adds its own, then calls <see cref="Finish"/>.</summary>
    /// <param name="name">Module name.</param>
    /// <param name="architecture">The trunk's arguments.</param>
    /// <param name="prefixTokens">Tokens in front of the patches (a class token: 1; SigLIP: 0), with positions of their own.</param>
    /// <param name="blocks">The family's blocks.</param>
    /// <param name="headOutputs">Outputs of the classifier head used as projection, or null for none.</param>
    /// <param name="patchDropout">Patch dropout in training mode.</param>
    /// <param name="device">Parameter device.</param>
    /// <param name="dtype">Parameter dtype.</param>
    protected TimmTrunk(string name, TimmTowerArchitecture architecture, int prefixTokens, IEnumerable<ResidualAttentionBlock> blocks,
                        int? headOutputs, double patchDropout, Device? device, ScalarType? dtype)
        : base(name)
    {
        Architecture = architecture;
        PrefixTokens = prefixTokens;
        long width = architecture.Width;
        patch_embed = new PatchEmbedding(architecture.PatchSize, width, device, dtype);
        pos_embed = new Parameter(zeros([1, PatchCount + prefixTokens, width], dtype ?? ScalarType.Float32, device));
        patch_drop = new PatchDropout(patchDropout, prefixTokens);
        this.blocks = new ModuleList<ResidualAttentionBlock>(blocks.ToArray());
        norm = new ClipLayerNorm(width, ClipLayerNorm.TimmEps, device, dtype);
        head = headOutputs is int outputs ? nn.Linear(width, outputs, hasBias: true, device: device, dtype: dtype) : null;
    }

    /// <summary>The trunk's arguments.</summary>
    public TimmTowerArchitecture Architecture { get; }

    /// <summary>Tokens in front of the patches.</summary>
    protected int PrefixTokens { get; }

    /// <inheritdoc/>
    public int PatchCount => Architecture.GridSize * Architecture.GridSize;

    /// <summary>The blocks, in order.</summary>
    internal IReadOnlyList<ResidualAttentionBlock> Blocks => blocks.ToList();

    /// <summary>The classifier head used as projection, or null.</summary>
    internal Linear? Head => head;

    /// <inheritdoc/>
    public bool CheckpointActivations { get; set; }

    /// <inheritdoc/>
    public TowerLayout Layout => TowerLayout.Sequential(["patch_embed.", "pos_embed", .. StemTensors], "blocks.", blocks.Count,
        ["norm.", "head.", .. HeadModules]);

    /// <summary>The family's own stem tensors (a class token).</summary>
    protected virtual IEnumerable<string> StemTensors => [];

    /// <summary>The family's own head modules, with a trailing '.' (an attention pool).</summary>
    protected virtual IEnumerable<string> HeadModules => [];

    /// <summary>Registers the fields, draws timm's initialisation and detaches the parameters from ambient dispose scopes.</summary>
    protected void Finish()
    {
        RegisterComponents();
        using (no_grad())
        {
            TruncatedNormal.Fill(pos_embed, 0.02);
            foreach (var linear in modules().OfType<Linear>())
            {
                TruncatedNormal.Fill(linear.weight!, 0.02);
                if (linear.bias is { } bias) nn.init.zeros_(bias);
            }
            InitializeFamily();
        }
        this.DetachFromDisposeScopes();
    }

    /// <summary>The family's own initialisation after timm's Linear rule (inside <c>no_grad</c>).</summary>
    protected abstract void InitializeFamily();

    /// <summary>Pooled embedding [N, D] (through the head when there is one), in the trunk's dtype.</summary>
    public override Tensor forward(Tensor pixels)
    {
        using var scope = NewDisposeScope();
        return Encode(pixels, null, needTokens: false).Pooled.MoveToOuterDisposeScope();
    }

    /// <inheritdoc/>
    public TowerOutput ForwardTokens(Tensor pixels, Tensor? keepPatchIndices = null, bool projectTokens = true)
    {
        using var scope = NewDisposeScope();
        var (pooled, tokens) = Encode(pixels, keepPatchIndices, needTokens: true);
        if (projectTokens && head is not null) tokens = head.forward(tokens!);
        return new TowerOutput(pooled.MoveToOuterDisposeScope(), tokens!.MoveToOuterDisposeScope());
    }

    /// <summary>The learned positional embedding [1, prefix + P, W].</summary>
    protected Parameter PositionalEmbedding => pos_embed;

    /// <summary>Adds the tokens in front of the patches and the positional embedding to patch tokens [N, P, W].</summary>
    protected abstract Tensor Embed(Tensor patches);

    /// <summary>The blocks' second input for the kept patches (<paramref name="keep"/> [N, K], or null for all), or null.</summary>
    protected abstract Tensor? BlockInput(Tensor? keep, Tensor x);

    /// <summary>The pooled features [N, W] of the normalised tokens [N, prefix + K, W].</summary>
    protected abstract Tensor Pool(Tensor x);

    private (Tensor Pooled, Tensor? Tokens) Encode(Tensor pixels, Tensor? keep, bool needTokens)
    {
        ImageTowers.CheckPixels(pixels, Architecture.ImageSize);
        var patches = patch_embed.forward(pixels);
        var compute = patches.dtype;
        var x = Embed(ResidualStream.Enter(patches));
        keep ??= patch_drop.DrawKeepIndices(x.shape[0], PatchCount, x.device);
        if (keep is not null) x = PatchDropout.KeepPatches(x, keep, PrefixTokens);
        x = ActivationCheckpoint.RunBlocks(blocks, x, BlockInput(keep, x), CheckpointActivations && training);
        x = norm.forward(x, compute); // pooling, head and token outputs in the trunk's dtype
        var pooled = Pool(x);
        if (head is not null) pooled = head.forward(pooled);
        var tokens = needTokens ? x.narrow(1, PrefixTokens, x.shape[1] - PrefixTokens) : null;
        return (pooled, tokens);
    }

    /// <summary><paramref name="tokens"/> [N, prefix + P, W] plus the positional embedding.</summary>
    protected Tensor AddPositions(Tensor tokens) => ScalarSafe.Add(tokens, pos_embed.to(tokens.dtype));
}
