using System;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace Microsoft.ML.Clip.Modeling.Kernels;

/// <summary>
/// A 2-D convolution (groups 1, dilation 1, zero padding) whose CPU kernel is checked against float64 the first
/// time autograd records it for a new signature, with the im2col path as fallback where the check fails
/// (<see cref="ConvPathSelector"/>). Parameters are <c>weight</c> [Cout, Cin, kH, kW] and optional <c>bias</c>
/// [Cout], named, shaped and initialised as <c>torch.nn.Conv2d</c>'s, so state dicts and saved models of towers
/// built on <c>Conv2d</c> load unchanged.
/// </summary>
internal sealed class CheckedConv2d : nn.Module<Tensor, Tensor>
{
    // Field names are the state-dict names (RegisterComponents uses them); not readonly: Module.to() replaces them.
    private Parameter weight;
    private Parameter? bias;
    private readonly (long H, long W) _stride;
    private readonly (long H, long W) _padding;

    /// <summary>Creates the convolution with PyTorch's default initialisation (the same random draws as <c>Conv2d</c>).</summary>
    /// <param name="inChannels">Input channels.</param>
    /// <param name="outChannels">Output channels.</param>
    /// <param name="kernelSize">Square kernel side.</param>
    /// <param name="stride">Stride in both directions.</param>
    /// <param name="padding">Zero padding on every side.</param>
    /// <param name="hasBias">Whether the convolution adds a bias.</param>
    /// <param name="device">Parameter device (CPU when null).</param>
    /// <param name="dtype">Parameter dtype (the default dtype when null).</param>
    public CheckedConv2d(long inChannels, long outChannels, long kernelSize, long stride = 1, long padding = 0, bool hasBias = false,
                         Device? device = null, ScalarType? dtype = null)
        : base(nameof(CheckedConv2d))
    {
        if (inChannels < 1) throw new ArgumentOutOfRangeException(nameof(inChannels), inChannels, "must be positive");
        if (outChannels < 1) throw new ArgumentOutOfRangeException(nameof(outChannels), outChannels, "must be positive");
        if (kernelSize < 1) throw new ArgumentOutOfRangeException(nameof(kernelSize), kernelSize, "must be positive");
        if (stride < 1) throw new ArgumentOutOfRangeException(nameof(stride), stride, "must be positive");
        if (padding < 0) throw new ArgumentOutOfRangeException(nameof(padding), padding, "must not be negative");
        _stride = (stride, stride);
        _padding = (padding, padding);
        weight = nn.Parameter(empty([outChannels, inChannels, kernelSize, kernelSize], dtype: dtype, device: device));
        if (hasBias) bias = nn.Parameter(empty([outChannels], dtype: dtype, device: device));
        ResetParameters();
        RegisterComponents();
        this.DetachFromDisposeScopes();
    }

    /// <summary>The kernel [Cout, Cin, kH, kW].</summary>
    public Parameter Weight => weight;

    /// <summary>The bias [Cout], or null.</summary>
    public Parameter? Bias => bias;

    /// <summary>Stride (rows, columns).</summary>
    public (long H, long W) Stride => _stride;

    /// <summary>Zero padding (rows, columns).</summary>
    public (long H, long W) Padding => _padding;

    /// <summary>Convolves <paramref name="input"/> [N, Cin, H, W] (the weight's dtype and device) into [N, Cout, H', W'].</summary>
    public override Tensor forward(Tensor input)
    {
        ArgumentNullException.ThrowIfNull(input);
        if (input.dtype != weight.dtype || input.device_type != weight.device_type || input.device_index != weight.device_index)
            throw new ArgumentException($"The convolution's input is {input.dtype} on {input.device}; its weight is {weight.dtype} on {weight.device}. " +
                                        "Cast the input to the tower's dtype and device first.", nameof(input));
        return ChoosePath(input) == ConvPath.Im2Col
            ? Im2ColConvolution.Forward(input, weight, bias, _stride, _padding)
            : F.conv2d(input, weight, bias, strides: [_stride.H, _stride.W], padding: [_padding.H, _padding.W]);
    }

    // Only CPU kernels in reduced or single precision are in question; float64 is the reference itself and other
    // devices do not run oneDNN. "Training" means autograd records the call, whatever the module's train() flag.
    private ConvPath ChoosePath(Tensor input)
    {
        if (input.device_type != DeviceType.CPU || input.dtype is not (ScalarType.Float32 or ScalarType.BFloat16 or ScalarType.Float16))
            return ConvPath.Native;
        bool recording = is_grad_enabled() && (weight.requires_grad || input.requires_grad);
        return ConvPathSelector.Choose(ConvSignature.Of(input, weight, _stride, _padding), recording);
    }

    // torch.nn.Conv2d.reset_parameters: Kaiming-uniform with a = √5, bias uniform in ±1/√fan_in.
    private void ResetParameters()
    {
        using var _ = no_grad();
        nn.init.kaiming_uniform_(weight, Math.Sqrt(5));
        if (bias is null) return;
        double bound = 1 / Math.Sqrt(weight.shape[1] * weight.shape[2] * weight.shape[3]);
        nn.init.uniform_(bias, -bound, bound);
    }
}
