using System;
using System.Collections.Generic;
using System.Linq;
using Microsoft.ML.Clip.Torch;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Microsoft.ML.Clip.Modeling;

/// <summary>
/// The EVA02 trunk (timm <c>Eva</c>, see <see cref="Eva02Architecture"/>): <c>cls_token</c>, <c>pos_embed</c> (class
/// position included), blocks <c>norm1</c>, <c>attn</c> (<see cref="EvaAttention"/>), <c>norm2</c>, <c>mlp</c>
/// (<see cref="SwiGluMlp"/>), then <c>norm</c> and the class token through <c>head</c>.
/// </summary>
internal sealed partial class Eva02Trunk : TimmTrunk
{
    private Parameter cls_token;
    private readonly Eva02Architecture _architecture;

    /// <summary>Creates the trunk with timm's initialisation.</summary>
    public Eva02Trunk(Eva02Architecture architecture, int? headOutputs, double patchDropout, Device? device, ScalarType? dtype)
        : base("Eva", architecture, prefixTokens: 1, CreateBlocks(architecture, device, dtype), headOutputs, patchDropout, device, dtype)
    {
        _architecture = architecture;
        cls_token = new Parameter(zeros([1, 1, architecture.Width], dtype ?? ScalarType.Float32, device));
        Finish();
    }

    private static IEnumerable<ResidualAttentionBlock> CreateBlocks(Eva02Architecture a, Device? device, ScalarType? dtype) =>
        Enumerable.Range(0, a.Depth).Select(_ => new ResidualAttentionBlock(
            new ClipLayerNorm(a.Width, ClipLayerNorm.TimmEps, device, dtype),
            new EvaAttention(a.Width, a.Heads, prefixTokens: 1, device, dtype),
            new ClipLayerNorm(a.Width, ClipLayerNorm.TimmEps, device, dtype),
            new SwiGluMlp(a.Width, a.HiddenWidth, device, dtype),
            timmNames: true));

    /// <inheritdoc/>
    protected override IEnumerable<string> StemTensors => ["cls_token"];

    /// <summary>timm: class token and positions ~ trunc N(0, 0.02); each block's output projections divided by √(2·(i + 1)); the head scaled by 0.001.</summary>
    protected override void InitializeFamily()
    {
        TruncatedNormal.Fill(cls_token, 0.02);
        var blocks = Blocks;
        for (int i = 0; i < blocks.Count; i++)
        {
            double divisor = Math.Sqrt(2.0 * (i + 1));
            ScalarSafe.DivInPlace(((EvaAttention)blocks[i].Attention).Proj.weight!, divisor);
            ScalarSafe.DivInPlace(((SwiGluMlp)blocks[i].Mlp).Fc2.weight!, divisor);
        }
        if (Head is { } head)
        {
            ScalarSafe.MulInPlace(head.weight!, 0.001);
            ScalarSafe.MulInPlace(head.bias!, 0.001);
        }
    }

    /// <inheritdoc/>
    protected override Tensor Embed(Tensor patches)
    {
        long n = patches.shape[0], width = patches.shape[2];
        var cls = cls_token.to(patches.dtype).expand(n, 1, width);
        return AddPositions(cat([cls, patches], 1));
    }

    /// <summary>The rotary tables of every patch, or of the kept ones per image.</summary>
    protected override Tensor? BlockInput(Tensor? keep, Tensor x)
    {
        var table = RotaryEmbedding2d.Table(_architecture.GridSize, _architecture.ReferenceGrid, _architecture.Width / _architecture.Heads, x.device);
        return keep is null ? table : RotaryEmbedding2d.Keep(table, keep);
    }

    /// <summary>The class token.</summary>
    protected override Tensor Pool(Tensor x) => x.select(1, 0);
}
