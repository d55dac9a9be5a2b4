using System;
using System.Collections.Generic;
using System.Linq;
using TorchSharp;
using Microsoft.ML.Clip.Modeling.Kernels;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace Microsoft.ML.Clip.Modeling;

/// <summary>
/// OpenAI's ModifiedResNet image tower (CLIP RN50, RN101, RN50x4, ...), as in open_clip 2.32:
/// <list type="bullet">
/// <item>a three-convolution stem (3×3 convs 3→w/2 stride 2, w/2→w/2, w/2→w, each with BatchNorm and ReLU) and a
/// 2×2 average pooling instead of a max pooling;</item>
/// <item>four stages of anti-aliased <see cref="ResNetBottleneck"/> blocks (widths w, 2w, 4w, 8w; strides 1, 2, 2, 2,
/// done by average pooling);</item>
/// <item>an <see cref="AttentionPool2d"/> head over the 32w-channel feature map, projecting to the embedding size.</item>
/// </list>
/// Parameter and buffer names equal open_clip's state-dict keys under <c>visual.</c> (<c>conv1.weight</c>,
/// <c>bn1.running_mean</c>, <c>layer1.0.downsample.0.weight</c>, <c>attnpool.q_proj.weight</c>, ...).
/// </summary>
/// <remarks>
/// <para>Precision: the tower computes in the dtype of its parameters. Convert it with
/// <c>tower.to(ScalarType.BFloat16)</c> (or <see cref="ToComputeType"/>) to run in bf16; <see cref="forward"/> casts its
/// input to <see cref="ComputeType"/> at the entry, so fp32 pixels can be fed to a bf16 tower. The output has the
/// tower's dtype.</para>
/// <para>BatchNorm follows the module mode: <c>eval()</c> normalises with the running statistics, <c>train()</c> with
/// batch statistics and updates the running statistics (momentum 0.1), as PyTorch does.</para>
/// </remarks>
internal sealed partial class ModifiedResNet : Module<Tensor, Tensor>, IDescribedTower
{
    private readonly CheckedConv2d conv1;
    private readonly BatchNorm2d bn1;
    private readonly CheckedConv2d conv2;
    private readonly BatchNorm2d bn2;
    private readonly CheckedConv2d conv3;
    private readonly BatchNorm2d bn3;
    private readonly AvgPool2d avgpool;
    private readonly Sequential layer1;
    private readonly Sequential layer2;
    private readonly Sequential layer3;
    private readonly Sequential layer4;
    private readonly AttentionPool2d attnpool;

    private readonly int[] _layers;

    /// <summary>Creates the tower with open_clip's initialisation.</summary>
    /// <param name="layers">Bottleneck blocks per stage (four values, e.g. 3, 4, 6, 3 for RN50).</param>
    /// <param name="outputDim">Embedding size the attention pool projects to.</param>
    /// <param name="heads">Attention-pool heads; must divide <c>width * 32</c>.</param>
    /// <param name="imageSize">Input resolution (square); the pooled feature map is imageSize/32 a side.</param>
    /// <param name="width">Stem width (64 for RN50); the feature map has width × 32 channels.</param>
    /// <param name="name">Module name.</param>
    public ModifiedResNet(IReadOnlyList<int> layers, int outputDim, int heads, int imageSize = 224, int width = 64, string name = "visual")
        : base(name)
    {
        ArgumentNullException.ThrowIfNull(layers);
        if (layers.Count != 4 || layers.Any(l => l <= 0))
            throw new ArgumentException($"ModifiedResNet needs four positive block counts; got [{string.Join(", ", layers)}].", nameof(layers));
        if (width <= 0 || width % 2 != 0)
            throw new ArgumentOutOfRangeException(nameof(width), width, "must be positive and even");
        if (outputDim <= 0) throw new ArgumentOutOfRangeException(nameof(outputDim), outputDim, "must be positive");
        if (imageSize < 32) throw new ArgumentOutOfRangeException(nameof(imageSize), imageSize, "must be at least 32");
        int featureDim = width * 32;
        if (heads <= 0 || featureDim % heads != 0)
            throw new ArgumentException($"The number of heads ({heads}) must be positive and divide width × 32 ({featureDim}).", nameof(heads));

        _layers = layers.ToArray();
        OutputDim = outputDim;
        Heads = heads;
        ImageSize = imageSize;
        Width = width;

        int half = width / 2;
        conv1 = new CheckedConv2d(3, half, 3, stride: 2, padding: 1);
        bn1 = BatchNorm2d(half);
        conv2 = new CheckedConv2d(half, half, 3, padding: 1);
        bn2 = BatchNorm2d(half);
        conv3 = new CheckedConv2d(half, width, 3, padding: 1);
        bn3 = BatchNorm2d(width);
        avgpool = AvgPool2d(2);

        int inplanes = width;
        layer1 = MakeStage(ref inplanes, width, _layers[0], stride: 1);
        layer2 = MakeStage(ref inplanes, width * 2, _layers[1], stride: 2);
        layer3 = MakeStage(ref inplanes, width * 4, _layers[2], stride: 2);
        layer4 = MakeStage(ref inplanes, width * 8, _layers[3], stride: 2);

        attnpool = new AttentionPool2d(imageSize / 32, featureDim, heads, outputDim, "attnpool");

        RegisterComponents();
        InitializeParameters();
    }

    /// <summary>
    /// Builds the tower from open_clip's vision config values. As open_clip, the attention pool has
    /// <c>width * 32 / headWidth</c> heads (32 for RN50 with the default head width 64).
    /// </summary>
    /// <param name="layers">Blocks per stage (<c>vision_cfg.layers</c>).</param>
    /// <param name="width">Stem width (<c>vision_cfg.width</c>).</param>
    /// <param name="imageSize">Input resolution (<c>vision_cfg.image_size</c>).</param>
    /// <param name="embedDim">Output embedding size (the model's <c>embed_dim</c>).</param>
    /// <param name="headWidth">Attention head width (<c>vision_cfg.head_width</c>, 64 by default).</param>
    /// <param name="name">Module name.</param>
    public static ModifiedResNet FromConfig(IReadOnlyList<int> layers, int width, int imageSize, int embedDim, int headWidth = 64, string name = "visual")
    {
        if (headWidth <= 0 || width <= 0 || (width * 32) % headWidth != 0)
            throw new ArgumentException($"The head width ({headWidth}) must be positive and divide width × 32 ({width * 32}).", nameof(headWidth));
        return new ModifiedResNet(layers, embedDim, width * 32 / headWidth, imageSize, width, name);
    }

    /// <summary>Blocks per stage.</summary>
    public IReadOnlyList<int> Layers => Array.AsReadOnly(_layers);

    /// <summary>
    /// Stem <c>conv1..3</c>/<c>bn1..3</c>, the bottlenecks <c>layerS.J</c> numbered over the four stages in forward
    /// order, head <c>attnpool</c>. One learning rate for the whole tower (no decay by depth), as before this description.
    /// </summary>
    TowerLayout IDescribedTower.Layout => new(
        ["conv1.", "bn1.", "conv2.", "bn2.", "conv3.", "bn3."],
        name =>
        {
            for (int stage = 0, first = 0; stage < _layers.Length; first += _layers[stage], stage++)
                if (TowerLayout.BlockIndex(name, $"layer{stage + 1}.") is int block) return first + block;
            return null;
        },
        _layers.Sum(), ["attnpool."], decaysByDepth: false);

    /// <summary>Output embedding size.</summary>
    public int OutputDim { get; }

    /// <summary>Attention-pool heads.</summary>
    public int Heads { get; }

    /// <summary>Expected input resolution.</summary>
    public int ImageSize { get; }

    /// <summary>Stem width.</summary>
    public int Width { get; }

    /// <summary>The dtype the tower computes in (that of its parameters); inputs are cast to it.</summary>
    public ScalarType ComputeType => conv1.Weight.dtype;

    /// <summary>The attention-pooling head.</summary>
    internal AttentionPool2d AttentionPool => attnpool;

    /// <summary>
    /// Converts every parameter and buffer to <paramref name="dtype"/> (floating point: <c>Float32</c>,
    /// <c>BFloat16</c>, ...) and returns this tower. <c>num_batches_tracked</c> stays int64.
    /// </summary>
    public ModifiedResNet ToComputeType(ScalarType dtype)
    {
        if (dtype is not (ScalarType.Float32 or ScalarType.BFloat16 or ScalarType.Float16 or ScalarType.Float64))
            throw new ArgumentException($"The compute type must be a floating-point type; got {dtype}.", nameof(dtype));
        this.to(dtype);
        return this;
    }

    /// <summary>Encodes images [N, 3, imageSize, imageSize] (already normalised) into features [N, outputDim].</summary>
    public override Tensor forward(Tensor x)
    {
        if (x.dim() != 4 || x.shape[1] != 3)
            throw new ArgumentException($"ModifiedResNet expects images [N, 3, H, W]; got [{string.Join(", ", x.shape)}].", nameof(x));

        using var scope = NewDisposeScope();
        var dtype = ComputeType;
        var h = x.dtype == dtype ? x : x.to(dtype);
        h = bn1.call(conv1.call(h)).relu_();
        h = bn2.call(conv2.call(h)).relu_();
        h = bn3.call(conv3.call(h)).relu_();
        h = avgpool.call(h);
        h = layer1.call(h);
        h = layer2.call(h);
        h = layer3.call(h);
        h = layer4.call(h);
        return attnpool.call(h).MoveToOuterDisposeScope();
    }

    private static Sequential MakeStage(ref int inplanes, int planes, int blocks, int stride)
    {
        var modules = new (string, Module<Tensor, Tensor>)[blocks];
        modules[0] = ("0", new ResNetBottleneck(inplanes, planes, stride));
        inplanes = planes * ResNetBottleneck.Expansion;
        for (int i = 1; i < blocks; i++)
            modules[i] = (i.ToString(System.Globalization.CultureInfo.InvariantCulture), new ResNetBottleneck(inplanes, planes));
        return Sequential(modules);
    }

    // open_clip's init_parameters: attention-pool projections ~ N(0, (32w)^-1/2); the last BatchNorm scale of every
    // block zero (each residual branch starts as zero). Convolutions keep PyTorch's default (Kaiming-uniform) init.
    private void InitializeParameters()
    {
        attnpool.ResetProjectionWeights();
        using var _ = no_grad();
        foreach (var stage in new[] { layer1, layer2, layer3, layer4 })
            foreach (var block in stage.children().Cast<ResNetBottleneck>())
                block.LastNorm.weight!.zero_();
    }
}
