using System;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Clip.Modeling;

/// <summary>
/// timm's <c>Eva</c> as EVA02-CLIP builds it (<c>eva02_base_patch16_clip_224</c>, <c>eva02_large_patch14_clip_224</c>):
/// a class token, separate q/k/v projections (q and v biased), a 2-D rotary position embedding on the patch tokens
/// rescaled to <see cref="ReferenceGrid"/>, a SwiGLU MLP with an inner LayerNorm, a LayerNorm before the attention's
/// output projection, LayerNorm epsilon 1e-6 and class-token pooling (open_clip <c>timm_pool</c> "token").
/// </summary>
public sealed record Eva02Architecture : TimmTowerArchitecture
{
    /// <summary>
    /// Patches per side of the grid the rotary embedding was trained on (timm <c>ref_feat_shape</c>): patch coordinates
    /// are rescaled to it. 16 for the released EVA02-CLIP models.
    /// </summary>
    public required int ReferenceGrid { get; init; }

    /// <inheritdoc/>
    public override string Pool => "token";

    /// <inheritdoc/>
    public override void Validate()
    {
        base.Validate();
        Require(ReferenceGrid > 0, $"ref_feat_shape must be positive, got {ReferenceGrid}.");
        Require(Width / Heads % 4 == 0, $"the head width ({Width / Heads}) must be a multiple of 4 for the 2-D rotary embedding.");
    }

    internal override TimmTrunk CreateTrunk(int? headOutputs, double patchDropout, Device? device, ScalarType? dtype) =>
        new Eva02Trunk(this, headOutputs, patchDropout, device, dtype);
}
