using System;
using System.Collections.Generic;
using System.Linq;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Clip.Modeling;

/// <summary>
/// The SigLIP trunk (timm <c>VisionTransformer</c>, see <see cref="SigLipVitArchitecture"/>): <c>pos_embed</c> over
/// the patches only, blocks <c>norm1</c>, <c>attn</c> (<see cref="FusedQkvAttention"/>), <c>norm2</c>, <c>mlp</c>
/// (<c>fc1</c>/<c>fc2</c>), then <c>norm</c> and the attention pool <c>attn_pool</c>.
/// </summary>
internal sealed partial class SigLipTrunk : TimmTrunk
{
    private readonly AttentionPoolLatent attn_pool;

    /// <summary>Creates the trunk with timm's initialisation.</summary>
    public SigLipTrunk(SigLipVitArchitecture architecture, int? headOutputs, double patchDropout, Device? device, ScalarType? dtype)
        : base("VisionTransformer", architecture, prefixTokens: 0, CreateBlocks(architecture, device, dtype), headOutputs, patchDropout, device, dtype)
    {
        attn_pool = new AttentionPoolLatent(architecture.Width, architecture.Heads, architecture.HiddenWidth, architecture.Activation, device, dtype);
        Finish();
    }

    private static IEnumerable<ResidualAttentionBlock> CreateBlocks(SigLipVitArchitecture a, Device? device, ScalarType? dtype) =>
        Enumerable.Range(0, a.Depth).Select(_ => new ResidualAttentionBlock(
            new ClipLayerNorm(a.Width, ClipLayerNorm.TimmEps, device, dtype),
            new FusedQkvAttention(a.Width, a.Heads, device, dtype),
            new ClipLayerNorm(a.Width, ClipLayerNorm.TimmEps, device, dtype),
            new Mlp(a.Width, a.HiddenWidth, a.Activation, device, dtype, "fc1", "fc2"),
            timmNames: true));

    /// <inheritdoc/>
    protected override IEnumerable<string> HeadModules => ["attn_pool."];

    /// <summary>timm: the latent query ~ trunc N(0, width^-½).</summary>
    protected override void InitializeFamily() =>
        TruncatedNormal.Fill(attn_pool.Latent, Math.Pow(Architecture.Width, -0.5));

    /// <inheritdoc/>
    protected override Tensor Embed(Tensor patches) => AddPositions(patches);

    /// <inheritdoc/>
    protected override Tensor? BlockInput(Tensor? keep, Tensor x) => null;

    /// <summary>The attention pool over every (kept) patch.</summary>
    protected override Tensor Pool(Tensor x) => attn_pool.forward(x);
}
