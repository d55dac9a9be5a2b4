using System;
using System.Collections.Generic;
using System.Linq;
using Microsoft.ML.Clip.Torch;
using TorchSharp;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace Microsoft.ML.Clip.Training.Objectives.Slip;

/// <summary>
/// SimCLR-style random views of a batch of normalized images, computed with tensor operations: random resized
/// crop, horizontal flip, colour jitter (brightness, contrast, saturation; hue is left out), random grayscale
/// and Gaussian blur, on un-normalized [0, 1] pixels, then normalized again. Deterministic for a given
/// <see cref="Random"/>, so a run with a fixed seed draws the same views.
/// </summary>
internal sealed class ViewAugmenter
{
    private readonly double _minScale;
    private readonly float[] _mean, _std;
    // Normalization and grayscale constants per device and dtype, uploaded once rather than on every step.
    private readonly Dictionary<(DeviceType, int, ScalarType), (Tensor Mean, Tensor Std, Tensor Gray)> _constants = new();

    public ViewAugmenter(double minCropScale, IReadOnlyList<float> mean, IReadOnlyList<float> std)
    {
        _minScale = minCropScale;
        _mean = mean.ToArray();
        _std = std.ToArray();
    }

    /// <summary>One random view of every image of <paramref name="pixels"/> [B, 3, S, S].</summary>
    public Tensor View(Tensor pixels, Random random)
    {
        using var scope = NewDisposeScope();
        var (mean, std, gray) = Constants(pixels);
        var images = ScalarSafe.Add(pixels * std, mean);
        long b = pixels.shape[0];
        int size = (int)pixels.shape[2];
        var views = new Tensor[b];
        for (int i = 0; i < b; i++)
        {
            var x = Crop(images.narrow(0, i, 1), size, random);
            if (random.NextDouble() < 0.5) x = x.flip(3);
            if (random.NextDouble() < 0.8) x = Jitter(x, gray, random);
            if (random.NextDouble() < 0.2) x = Gray(x, gray).expand(-1, 3, -1, -1);
            if (random.NextDouble() < 0.5) x = Blur(x, size, random);
            views[i] = ScalarSafe.ClampInPlace(x.contiguous(), 0, 1);
        }
        return ((cat(views, 0) - mean) / std).MoveToOuterDisposeScope();
    }

    /// <summary>Random area in [minScale, 1] and aspect ratio in [3/4, 4/3], resized back to the image size.</summary>
    private Tensor Crop(Tensor x, int size, Random random)
    {
        double area = _minScale + (1 - _minScale) * random.NextDouble();
        double ratio = Math.Exp(Math.Log(3.0 / 4) + (Math.Log(4.0 / 3) - Math.Log(3.0 / 4)) * random.NextDouble());
        int w = Math.Clamp((int)Math.Round(size * Math.Sqrt(area * ratio)), 1, size);
        int h = Math.Clamp((int)Math.Round(size * Math.Sqrt(area / ratio)), 1, size);
        int left = random.Next(size - w + 1), top = random.Next(size - h + 1);
        var crop = x.narrow(2, top, h).narrow(3, left, w);
        return F.interpolate(crop, [size, size], mode: InterpolationMode.Bilinear, align_corners: false);
    }

    private static Tensor Gray(Tensor x, Tensor weights) => (x * weights).sum(1, keepdim: true);

    private (Tensor Mean, Tensor Std, Tensor Gray) Constants(Tensor like)
    {
        var key = (like.device_type, like.device_index, like.dtype);
        lock (_constants)
        {
            if (!_constants.TryGetValue(key, out var constants))
            {
                Tensor Upload(float[] values) => tensor(values, new long[] { 1, 3, 1, 1 }, ScalarType.Float32, like.device).to(like.dtype).DetachFromDisposeScope();
                constants = (Upload(_mean), Upload(_std), Upload([0.299f, 0.587f, 0.114f]));
                _constants[key] = constants;
            }
            return constants;
        }
    }

    /// <summary>Brightness, contrast and saturation factors in [0.6, 1.4], in random order as torchvision.</summary>
    private static Tensor Jitter(Tensor x, Tensor gray, Random random)
    {
        foreach (int op in new[] { 0, 1, 2 }.OrderBy(_ => random.Next()))
        {
            double factor = 0.6 + 0.8 * random.NextDouble();
            x = op switch
            {
                0 => ScalarSafe.Mul(x, factor),
                1 => Blend(x, Gray(x, gray).mean([1, 2, 3], keepdim: true), factor),
                _ => Blend(x, Gray(x, gray), factor),
            };
            x = ScalarSafe.ClampInPlace(x.contiguous(), 0, 1);
        }
        return x;
    }

    /// <summary><c>reference + factor · (x − reference)</c>.</summary>
    private static Tensor Blend(Tensor x, Tensor reference, double factor) => ScalarSafe.Add(reference, ScalarSafe.Mul(x - reference, factor));

    /// <summary>Gaussian blur with σ in [0.1, 2] (scaled to the image size) and a kernel about a tenth of the image.</summary>
    private static Tensor Blur(Tensor x, int size, Random random)
    {
        double sigma = (0.1 + 1.9 * random.NextDouble()) * size / 224.0 * 2;
        int k = Math.Max(3, (size / 10) | 1);
        double s = Math.Max(sigma, 1e-3);
        // exp(−o² / 2σ²) for offsets o = −⌊k/2⌋ … on the device (in float64, as the host formula was), normalised.
        var offsets = ScalarSafe.Arange(-(k / 2), k - k / 2, ScalarType.Float64, x.device);
        var g = ScalarSafe.Div(offsets * offsets, -(2 * s * s)).exp();
        var kernel1d = (g / g.sum()).to(ScalarType.Float32).to(x.dtype);
        var horizontal = kernel1d.view(1, 1, 1, k).expand(3, 1, 1, k).contiguous();
        var vertical = kernel1d.view(1, 1, k, 1).expand(3, 1, k, 1).contiguous();
        var padded = F.pad(x, new long[] { k / 2, k / 2, 0, 0 }, PaddingModes.Reflect);
        var y = F.conv2d(padded, horizontal, groups: 3);
        y = F.pad(y, new long[] { 0, 0, k / 2, k / 2 }, PaddingModes.Reflect);
        return F.conv2d(y, vertical, groups: 3);
    }
}
