using System;
using Microsoft.ML.Clip.Torch;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Clip.Modeling;

/// <summary>
/// PyTorch's <c>nn.init.trunc_normal_</c>, which timm initialises with. TorchSharp 0.107's <c>nn.init.trunc_normal_</c>
/// cannot be used: its native code multiplies by the mean and adds the standard deviation (and omits the √2 of the
/// inverse error function), so with mean 0 it fills every element with exactly <c>std</c>.
/// </summary>
internal static class TruncatedNormal
{
    /// <summary>Fills <paramref name="tensor"/> in place from N(0, std²) truncated to [a, b] (absolute bounds, as PyTorch's).</summary>
    public static Tensor Fill(Tensor tensor, double std, double a = -2, double b = 2)
    {
        // Inverse-CDF sampling, as PyTorch: uniform over the CDF's range on [a, b], through erfinv, scaled by std·√2.
        static double Cdf(double x) => (1 + Erf(x / Math.Sqrt(2))) / 2;
        using (no_grad())
        {
            nn.init.uniform_(tensor, 2 * Cdf(a / std) - 1, 2 * Cdf(b / std) - 1);
            tensor.erfinv_();
            ScalarSafe.MulInPlace(tensor, std * Math.Sqrt(2));
            ScalarSafe.ClampInPlace(tensor, a, b);
        }
        return tensor;
    }

    // Abramowitz and Stegun 7.1.26 (|error| < 1.5e-7): the CDF only places the truncation points.
    private static double Erf(double x)
    {
        double t = 1 / (1 + 0.3275911 * Math.Abs(x));
        double y = 1 - t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429)))) * Math.Exp(-x * x);
        return Math.Sign(x) * y;
    }
}
