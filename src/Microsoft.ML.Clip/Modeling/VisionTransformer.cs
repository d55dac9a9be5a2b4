using System;
using Microsoft.ML.Clip.Torch;
using TorchSharp;
using Microsoft.ML.Clip.Modeling.Kernels;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Microsoft.ML.Clip.Modeling;

/// <summary>
/// The CLIP Vision Transformer image tower with open_clip's parameter names: <c>conv1</c> (patch embedding,
/// no bias), <c>class_embedding</c>, <c>positional_embedding</c>, <c>ln_pre</c>, <c>transformer.resblocks.N</c>,
/// <c>ln_post</c> and <c>proj</c>. <see cref="nn.Module{T,TResult}.forward"/> maps normalised pixels
/// [N, 3, H, W] to image embeddings [N, embed_dim] in the model's dtype.
/// </summary>
internal sealed partial class VisionTransformer : nn.Module<Tensor, Tensor>, ITokenImageTower, ICheckpointableTower, IDescribedTower
{
    private CheckedConv2d conv1;
    private Parameter class_embedding;
    private Parameter positional_embedding;
    private PatchDropout patch_dropout;
    private ClipLayerNorm ln_pre;
    private Transformer transformer;
    private ClipLayerNorm ln_post;
    private Parameter proj;

    /// <summary>Creates a ViT tower for <paramref name="config"/> projecting to <paramref name="embedDim"/>.</summary>
    public VisionTransformer(VisionConfig config, int embedDim, bool quickGelu, Device? device = null, ScalarType? dtype = null)
        : base(nameof(VisionTransformer))
    {
        ArgumentNullException.ThrowIfNull(config);
        if (config.ResNetLayers is not null || config.Timm is not null)
            throw new ArgumentException("This vision config describes a ModifiedResNet or a timm trunk, not open_clip's Vision Transformer.", nameof(config));
        config.Validate();
        Config = config;
        EmbedDim = embedDim;
        var type = dtype ?? ScalarType.Float32;
        long width = config.Width;

        conv1 = new CheckedConv2d(3, width, config.PatchSize, stride: config.PatchSize, device: device, dtype: dtype);
        class_embedding = new Parameter(empty(width, type, device));
        positional_embedding = new Parameter(empty([PatchCount + 1, width], type, device));
        patch_dropout = new PatchDropout(config.PatchDropout);
        ln_pre = new ClipLayerNorm(width, device: device, dtype: dtype);
        transformer = new Transformer(width, config.Layers, config.Heads, config.MlpRatio, quickGelu ? MlpActivation.QuickGelu : MlpActivation.Gelu, device, dtype);
        ln_post = new ClipLayerNorm(width, device: device, dtype: dtype);
        proj = new Parameter(empty([width, embedDim], type, device));
        RegisterComponents();
        InitializeParameters();
        this.DetachFromDisposeScopes();
    }

    /// <summary>The architecture.</summary>
    public VisionConfig Config { get; }

    /// <summary>Size of the output embedding.</summary>
    public int EmbedDim { get; }

    /// <inheritdoc/>
    public int PatchCount => Config.GridSize * Config.GridSize;

    /// <summary>The transformer blocks.</summary>
    internal Transformer Transformer => transformer;

    /// <inheritdoc cref="ICheckpointableTower.CheckpointActivations"/>
    bool ICheckpointableTower.CheckpointActivations
    {
        get => transformer.CheckpointActivations;
        set => transformer.CheckpointActivations = value;
    }

    /// <summary>Stem <c>conv1</c>, <c>class_embedding</c>, <c>positional_embedding</c>, <c>ln_pre</c>; blocks <c>transformer.resblocks.N</c>; head <c>ln_post</c>, <c>proj</c>.</summary>
    TowerLayout IDescribedTower.Layout => TowerLayout.Sequential(["conv1.", "class_embedding", "positional_embedding", "ln_pre."],
        "transformer.resblocks.", Config.Layers, ["ln_post.", "proj"]);

    /// <summary>The patch dropout applied in training mode (open_clip <c>patch_dropout</c>).</summary>
    internal PatchDropout PatchDropout => patch_dropout;

    /// <summary>
    /// Re-draws the parameters as open_clip does for a fresh ViT: class and positional embeddings and
    /// <c>proj</c> ~ N(0, width^-½); PyTorch defaults elsewhere (those already set at construction).
    /// </summary>
    public void InitializeParameters()
    {
        double scale = Math.Pow(Config.Width, -0.5);
        using (no_grad())
        {
            nn.init.normal_(class_embedding, 0, scale);
            nn.init.normal_(positional_embedding, 0, scale);
            nn.init.normal_(proj, 0, scale);
        }
    }

    /// <summary>Image embeddings [N, embed_dim] (not normalised) in the tower's dtype.</summary>
    public override Tensor forward(Tensor pixels)
    {
        using var scope = NewDisposeScope();
        var (pooled, _) = Encode(pixels, null, needTokens: false);
        return SafeMatMul.MatMul(pooled, proj, "visual.proj").MoveToOuterDisposeScope();
    }

    /// <inheritdoc/>
    public TowerOutput ForwardTokens(Tensor pixels, Tensor? keepPatchIndices = null, bool projectTokens = true)
    {
        using var scope = NewDisposeScope();
        var (pooled, tokens) = Encode(pixels, keepPatchIndices, needTokens: true);
        pooled = SafeMatMul.MatMul(pooled, proj, "visual.proj");
        if (projectTokens) tokens = SafeMatMul.MatMul(tokens!, proj, "visual.proj");
        return new TowerOutput(pooled.MoveToOuterDisposeScope(), tokens!.MoveToOuterDisposeScope());
    }

    private (Tensor Pooled, Tensor? Tokens) Encode(Tensor pixels, Tensor? keepPatchIndices, bool needTokens)
    {
        ImageTowers.CheckPixels(pixels, Config.ImageSize);
        // Inputs follow the model: a bf16 tower gets bf16 pixels (an fp32 input into a bf16 conv would throw).
        var x = conv1.forward(pixels.to(conv1.Weight.dtype, conv1.Weight.device)); // [N, width, g, g]
        long n = x.shape[0], width = x.shape[1];
        var compute = x.dtype;
        x = ResidualStream.Enter(x.reshape(n, width, -1).permute(0, 2, 1)); // [N, g², width]
        var cls = class_embedding.to(x.dtype).view(1, 1, width).expand(n, 1, width);
        x = ScalarSafe.Add(cat([cls, x], 1), positional_embedding.to(x.dtype));
        x = keepPatchIndices is not null ? PatchDropout.KeepPatches(x, keepPatchIndices) : patch_dropout.forward(x);
        x = ln_pre.forward(x);
        x = transformer.forward(x, null);
        x = ln_post.forward(x, compute); // pooled and token outputs in the tower's dtype, for the projection
        var pooled = x.select(1, 0);
        var tokens = needTokens ? x.narrow(1, 1, x.shape[1] - 1) : null;
        return (pooled, tokens);
    }
}
