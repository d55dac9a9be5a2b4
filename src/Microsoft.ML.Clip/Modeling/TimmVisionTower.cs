using System;
using Microsoft.ML.Clip.Onnx;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Clip.Modeling;

/// <summary>
/// open_clip's <c>TimmModel</c>: the image tower <c>visual</c> holding a timm trunk as <c>trunk</c> (so tensors are
/// named <c>visual.trunk.*</c>), whose classifier head is the projection or which has none
/// (<see cref="TimmVisionConfig.HeadProjection"/>). Maps pixels [N, 3, S, S] to [N, embed_dim] in the tower's dtype.
/// </summary>
internal sealed class TimmVisionTower : nn.Module<Tensor, Tensor>, ITokenImageTower, ICheckpointableTower, IOnnxImageTower, IDescribedTower
{
    private readonly TimmTrunk trunk;

    /// <summary>Builds the tower <paramref name="config"/> describes, projecting to <paramref name="embedDim"/>.</summary>
    /// <param name="config">The timm tower.</param>
    /// <param name="embedDim">The joint embedding size.</param>
    /// <param name="patchDropout">Patch dropout in training mode (open_clip <c>patch_dropout</c>).</param>
    /// <param name="device">Parameter device.</param>
    /// <param name="dtype">Parameter dtype.</param>
    public TimmVisionTower(TimmVisionConfig config, int embedDim, double patchDropout, Device? device, ScalarType? dtype)
        : base(nameof(TimmVisionTower))
    {
        ArgumentNullException.ThrowIfNull(config);
        config.Validate(config.Architecture.ImageSize, embedDim);
        Config = config;
        trunk = config.Architecture.CreateTrunk(config.HeadProjection ? embedDim : null, patchDropout, device, dtype);
        RegisterComponents();
    }

    /// <summary>The tower's config.</summary>
    public TimmVisionConfig Config { get; }

    /// <summary>The timm trunk.</summary>
    public TimmTrunk Trunk => trunk;

    /// <inheritdoc/>
    public int PatchCount => trunk.PatchCount;

    /// <inheritdoc/>
    public TowerLayout Layout => trunk.Layout.WithPrefix("trunk.");

    /// <inheritdoc/>
    bool ICheckpointableTower.CheckpointActivations
    {
        get => trunk.CheckpointActivations;
        set => trunk.CheckpointActivations = value;
    }

    /// <inheritdoc/>
    public override Tensor forward(Tensor pixels) => trunk.forward(pixels);

    /// <inheritdoc/>
    public TowerOutput ForwardTokens(Tensor pixels, Tensor? keepPatchIndices = null, bool projectTokens = true) =>
        trunk.ForwardTokens(pixels, keepPatchIndices, projectTokens);

    /// <inheritdoc/>
    string IOnnxImageTower.EmitOnnx(OnnxGraph graph, string pixels) => trunk.EmitOnnx(graph, pixels);
}
