using System;
using System.Collections.Generic;
using System.Linq;
using Microsoft.ML.Clip.Torch;
using static TorchSharp.torch;

namespace Microsoft.ML.Clip.Modeling;

/// <summary>
/// Weight-space ensembles of two models of one architecture (WiSE-FT, Wortsman et al., 2022): every parameter and
/// buffer of the result is <c>θ = (1 − α)·θ₀ + α·θ₁</c>. With θ₀ a pretrained (zero-shot) model and θ₁ the same model
/// fine-tuned, intermediate α keep much of θ₀'s accuracy on other data while gaining most of θ₁'s on the fine-tuning
/// domain, at the cost of one model.
/// </summary>
/// <remarks>
/// Buffers: floating-point buffers are interpolated like the weights. For a ResNet tower's BatchNorm that makes the
/// running mean the interpolation of the two means, which is what the interpolated network's activations have only
/// approximately (the activations are not linear in the weights), and the running variance the interpolation of the
/// variances; the WiSE-FT paper does the same. Where that matters, re-estimate the statistics with a pass over training
/// data in training mode. Integer buffers (BatchNorm's <c>num_batches_tracked</c>) are taken from the endpoint nearer to
/// α (θ₀ below ½, θ₁ from ½ on).
/// </remarks>
public static class WeightInterpolation
{
    /// <summary>
    /// A new float32 model (on <paramref name="second"/>'s device) with <c>(1 − alpha)·first + alpha·second</c>. α = 0 and
    /// α = 1 give exact copies of the endpoints; α outside [0, 1] extrapolates.
    /// </summary>
    /// <exception cref="ArgumentException">The models differ in architecture (the message names the first differing tensor or setting).</exception>
    public static ClipModel Interpolate(ClipModel first, ClipModel second, double alpha)
    {
        CheckSameArchitecture(first, second);
        if (!double.IsFinite(alpha)) throw new ArgumentOutOfRangeException(nameof(alpha), alpha, "α must be a finite number.");
        var result = new ClipModel(first.Config, second.Device);
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var a = first.state_dict();
        var b = second.state_dict();
        foreach (var (name, target) in result.state_dict())
        {
            var x = a[name].to(target.dtype, target.device);
            var y = b[name].to(target.dtype, target.device);
            if (alpha == 0 || (!target.is_floating_point() && alpha < 0.5)) target.copy_(x);
            else if (alpha == 1 || !target.is_floating_point()) target.copy_(y);
            else target.copy_(ScalarSafe.AddInPlace(ScalarSafe.Mul(x, 1 - alpha), y, alpha));
        }
        return result;
    }

    /// <summary>
    /// Throws <see cref="ArgumentException"/> unless the two models have the same tensors (names, shapes) in the same
    /// order and the same configuration apart from the initial temperature and bias values.
    /// </summary>
    public static void CheckSameArchitecture(ClipModel first, ClipModel second)
    {
        ArgumentNullException.ThrowIfNull(first);
        ArgumentNullException.ThrowIfNull(second);
        var a = first.state_dict().Select(p => (p.Key, Shape: p.Value.shape)).ToList();
        var b = second.state_dict().ToDictionary(p => p.Key, p => p.Value.shape);
        foreach (var (name, shape) in a)
        {
            if (!b.TryGetValue(name, out var other))
                throw new ArgumentException($"Cannot interpolate models of different architectures: '{name}' {Shape(shape)} is in the first model but not in the second.");
            if (!shape.SequenceEqual(other))
                throw new ArgumentException($"Cannot interpolate models of different architectures: '{name}' has shape {Shape(shape)} in the first model and {Shape(other)} in the second.");
        }
        var extra = b.Keys.Except(a.Select(p => p.Key)).FirstOrDefault();
        if (extra is not null)
            throw new ArgumentException($"Cannot interpolate models of different architectures: '{extra}' {Shape(b[extra])} is in the second model but not in the first.");
        if (Differences(first.Config, second.Config).FirstOrDefault() is { } setting)
            throw new ArgumentException($"Cannot interpolate models of different architectures: their tensors match but {setting}.");
    }

    private static string Shape(long[] shape) => $"[{string.Join(", ", shape)}]";

    /// <summary>Settings that change what the same tensors compute (activation, heads, patch size...), described.</summary>
    private static IEnumerable<string> Differences(ClipConfig a, ClipConfig b)
    {
        if (a.QuickGelu != b.QuickGelu) yield return $"QuickGelu is {a.QuickGelu} in the first and {b.QuickGelu} in the second";
        foreach (var d in Compare("Vision", a.Vision, b.Vision)) yield return d;
        foreach (var d in Compare("Text", a.Text, b.Text)) yield return d;
    }

    private static IEnumerable<string> Compare<T>(string section, T a, T b) where T : class =>
        typeof(T).GetProperties().Where(p => p.GetIndexParameters().Length == 0)
            .Select(p => (p.Name, A: p.GetValue(a), B: p.GetValue(b)))
            .Where(v => !ValueEquals(v.A, v.B))
            .Select(v => $"{section}.{v.Name} is {Show(v.A)} in the first and {Show(v.B)} in the second");

    private static bool ValueEquals(object? a, object? b) =>
        a is IEnumerable<int> x && b is IEnumerable<int> y ? x.SequenceEqual(y) : Equals(a, b);

    private static string Show(object? value) => value is IEnumerable<int> list ? $"[{string.Join(", ", list)}]" : value?.ToString() ?? "null";
}
