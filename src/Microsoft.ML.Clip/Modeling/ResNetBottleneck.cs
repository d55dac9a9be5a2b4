using System;
using Microsoft.ML.Clip.Torch;
using TorchSharp;
using Microsoft.ML.Clip.Modeling.Kernels;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace Microsoft.ML.Clip.Modeling;

/// <summary>
/// The anti-aliased bottleneck block of OpenAI's ModifiedResNet (CLIP RN50 family): 1×1 conv → BN → ReLU,
/// 3×3 conv → BN → ReLU, average pooling when the stride is above 1 (instead of a strided convolution),
/// 1×1 conv (×4 channels) → BN, plus the shortcut, then ReLU. When the block changes the resolution or the
/// channel count, the shortcut is <c>downsample</c>: average pooling, 1×1 conv, BN.
/// </summary>
/// <remarks>
/// Sub-module names equal open_clip's state-dict keys (<c>conv1</c>, <c>bn1</c>, ..., <c>downsample.0</c> for the
/// shortcut convolution and <c>downsample.1</c> for its BatchNorm; the parameter-free pooling of the shortcut is
/// named <c>-1</c>, as in open_clip).
/// </remarks>
internal sealed partial class ResNetBottleneck : Module<Tensor, Tensor>
{
    /// <summary>Output channels are <c>planes * Expansion</c>.</summary>
    public const int Expansion = 4;

    // Field names are the state-dict names (RegisterComponents uses them).
    private readonly CheckedConv2d conv1;
    private readonly BatchNorm2d bn1;
    private readonly CheckedConv2d conv2;
    private readonly BatchNorm2d bn2;
    private readonly AvgPool2d? avgpool;
    private readonly CheckedConv2d conv3;
    private readonly BatchNorm2d bn3;
    private readonly Sequential? downsample;

    /// <summary>Creates a block.</summary>
    /// <param name="inplanes">Input channels.</param>
    /// <param name="planes">Bottleneck channels; the block outputs <c>planes * 4</c> channels.</param>
    /// <param name="stride">Spatial reduction (1 or more), done by average pooling.</param>
    /// <param name="name">Module name.</param>
    public ResNetBottleneck(int inplanes, int planes, int stride = 1, string name = "Bottleneck") : base(name)
    {
        if (inplanes <= 0) throw new ArgumentOutOfRangeException(nameof(inplanes), inplanes, "must be positive");
        if (planes <= 0) throw new ArgumentOutOfRangeException(nameof(planes), planes, "must be positive");
        if (stride <= 0) throw new ArgumentOutOfRangeException(nameof(stride), stride, "must be positive");

        InPlanes = inplanes;
        Planes = planes;
        Stride = stride;
        int outplanes = planes * Expansion;

        conv1 = new CheckedConv2d(inplanes, planes, 1);
        bn1 = BatchNorm2d(planes);
        conv2 = new CheckedConv2d(planes, planes, 3, padding: 1);
        bn2 = BatchNorm2d(planes);
        avgpool = stride > 1 ? AvgPool2d(stride) : null;
        conv3 = new CheckedConv2d(planes, outplanes, 1);
        bn3 = BatchNorm2d(outplanes);

        if (stride > 1 || inplanes != outplanes)
        {
            // open_clip keys this pooling "-1" so that the conv and BN keep the names "0" and "1". With stride 1
            // it is AvgPool2d(1), the identity, and is left out.
            downsample = stride > 1
                ? Sequential(("-1", AvgPool2d(stride)), ("0", new CheckedConv2d(inplanes, outplanes, 1)), ("1", BatchNorm2d(outplanes)))
                : Sequential(("0", new CheckedConv2d(inplanes, outplanes, 1)), ("1", BatchNorm2d(outplanes)));
        }

        RegisterComponents();
    }

    /// <summary>Input channels.</summary>
    public int InPlanes { get; }

    /// <summary>Bottleneck channels (output channels are four times as many).</summary>
    public int Planes { get; }

    /// <summary>Spatial reduction factor.</summary>
    public int Stride { get; }

    /// <summary>Whether the shortcut has its own pooling/convolution/BatchNorm.</summary>
    public bool HasDownsample => downsample is not null;

    /// <summary>The last BatchNorm of the residual branch (its weight is zero-initialised by open_clip).</summary>
    internal BatchNorm2d LastNorm => bn3;

    /// <inheritdoc />
    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var y = bn1.call(conv1.call(x)).relu_();
        y = bn2.call(conv2.call(y)).relu_();
        if (avgpool is not null) y = avgpool.call(y);
        y = bn3.call(conv3.call(y));
        var identity = downsample is not null ? downsample.call(x) : x;
        y = ScalarSafe.AddInPlace(y, identity).relu_();
        return y.MoveToOuterDisposeScope();
    }
}
