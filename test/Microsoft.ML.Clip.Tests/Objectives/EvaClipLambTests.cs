using System;
using System.Collections.Generic;
using System.Linq;
using Microsoft.ML.Clip.Training;
using TorchSharp.Modules;
using Xunit;
using static TorchSharp.torch;

namespace Microsoft.ML.Clip.Tests.Objectives;

/// <summary>LAMB steps against a hand computation of You et al.'s update in double precision.</summary>
public class EvaClipLambTests
{
    private const double Beta1 = 0.9, Beta2 = 0.98, Eps = 1e-6;

    /// <summary>One tensor's state in the hand computation.</summary>
    private sealed class Hand(double[] w, double weightDecay, double scale, bool adapted)
    {
        public double[] W = w;
        public double[] M = new double[w.Length];
        public double[] V = new double[w.Length];

        // The paper's step t, written out element by element.
        public void Step(double[] g, double lr, int t)
        {
            var u = new double[W.Length];
            for (int i = 0; i < W.Length; i++)
            {
                M[i] = Beta1 * M[i] + (1 - Beta1) * g[i];
                V[i] = Beta2 * V[i] + (1 - Beta2) * g[i] * g[i];
                double mHat = M[i] / (1 - Math.Pow(Beta1, t)), vHat = V[i] / (1 - Math.Pow(Beta2, t));
                u[i] = mHat / (Math.Sqrt(vHat) + Eps) + (adapted ? weightDecay * W[i] : 0);
            }
            double ratio = 1;
            if (adapted)
            {
                double wNorm = Math.Sqrt(W.Sum(x => x * x)), uNorm = Math.Sqrt(u.Sum(x => x * x));
                ratio = wNorm > 0 && uNorm > 0 ? wNorm / uNorm : 1;
            }
            for (int i = 0; i < W.Length; i++) W[i] -= lr * scale * ratio * u[i];
        }
    }

    private static Parameter Param(double[] values, params long[] shape) =>
        new(tensor(values.Select(v => (float)v).ToArray(), shape));

    [Fact]
    public void OneAndTwoStepsMatchAHandComputation()
    {
        double[] w0 = [0.5, -1.0, 2.0, 0.25, -0.75, 1.5];
        double[] b0 = [0.1, -0.2, 0.3];
        double[] z0 = new double[4];
        // A decayed matrix with a learning-rate scale, an excluded bias (plain Adam) and a zero matrix (‖w‖ = 0: ratio 1).
        var weight = new OptimizedParameter("visual.transformer.resblocks.0.mlp.c_fc.weight", Param(w0, 2, 3), 0.1, 0.5);
        var bias = new OptimizedParameter("visual.transformer.resblocks.0.mlp.c_fc.bias", Param(b0, 3), 0, 0.5);
        var zero = new OptimizedParameter("text_projection", Param(z0, 2, 2), 0.1, 1.0);
        var lamb = new Lamb([weight, bias, zero], Beta1, Beta2, Eps);
        Assert.True(lamb.IsAdapted(weight));
        Assert.False(lamb.IsAdapted(bias));

        var hands = new[] { new Hand((double[])w0.Clone(), 0.1, 0.5, true), new Hand((double[])b0.Clone(), 0, 0.5, false), new Hand((double[])z0.Clone(), 0.1, 1.0, true) };
        double[][][] grads =
        [
            [[0.3, -0.1, 0.05, 0.2, -0.4, 0.01], [0.5, -0.05, 0.2], [0.1, -0.2, 0.3, 0.05]],
            [[-0.2, 0.3, 0.1, -0.05, 0.2, 0.4], [-0.1, 0.25, 0.05], [0.2, 0.1, -0.1, 0.3]],
        ];
        double[] rates = [1e-2, 5e-3];
        var parameters = new[] { weight, bias, zero };
        for (int t = 0; t < 2; t++)
        {
            var g = parameters.Select((p, i) => (p.Name, Tensor: tensor(grads[t][i].Select(v => (float)v).ToArray(), p.Parameter.shape)))
                .ToDictionary(x => x.Name, x => x.Tensor);
            lamb.Step(rates[t], g);
            for (int i = 0; i < hands.Length; i++)
            {
                hands[i].Step(grads[t][i], rates[t], t + 1);
                var actual = parameters[i].Parameter.data<float>().ToArray();
                for (int k = 0; k < actual.Length; k++)
                    Assert.True(Math.Abs(actual[k] - hands[i].W[k]) < 2e-6,
                        $"step {t + 1} {parameters[i].Name}[{k}]: {actual[k]} vs {hands[i].W[k]}");
            }
        }
        Assert.Equal(2, lamb.StepCount);
        // After the first step the zero matrix is no longer zero: the second step used its trust ratio.
        Assert.Contains(hands[2].W, x => x != 0);
    }

    [Fact]
    public void TheTrustRatioMakesTheStepProportionalToTheWeightNorm()
    {
        // ‖Δw‖ = lr · ‖w‖ whatever the gradient's magnitude (no weight decay): LAMB's defining property.
        foreach (double gradScale in new[] { 1e-3, 1.0, 1e3 })
        {
            var p = new OptimizedParameter("w", Param([3.0, 4.0], 1, 2), 0);
            var lamb = new Lamb([p]);
            var before = p.Parameter.data<float>().ToArray();
            lamb.Step(0.01, new Dictionary<string, Tensor> { ["w"] = tensor(new[] { (float)gradScale, (float)(-2 * gradScale) }, [1, 2]) });
            var after = p.Parameter.data<float>().ToArray();
            double moved = Math.Sqrt(before.Zip(after).Sum(x => (x.First - x.Second) * (x.First - x.Second)));
            // 0.01 × ‖(3, 4)‖. The step is read back as a difference of fp32 weights of magnitude 3–4 (half-ulp 2.4e-7
            // each), so it is known to ~5e-7: 2e-6. A trust ratio that kept the gradient's scale would miss by ×1e3.
            Approx.Equal(0.05, moved, atol: 2e-6, rtol: 0, $"step length at gradient scale {gradScale}");
        }
    }

    [Fact]
    public void StateDictRestoresTheSameTrajectory()
    {
        double[] w0 = [0.5, -1.0, 2.0, 0.25];
        var a = new OptimizedParameter("m.weight", Param(w0, 2, 2), 0.05);
        var b = new OptimizedParameter("m.weight", Param(w0, 2, 2), 0.05);
        var first = new Lamb([a]);
        Tensor Grad(int step) => tensor(new[] { 0.1f * step, -0.2f, 0.3f, 0.05f * step }, [2, 2]);
        first.Step(1e-2, new Dictionary<string, Tensor> { ["m.weight"] = Grad(1) });
        using (no_grad()) b.Parameter.copy_(a.Parameter);
        var second = new Lamb([b]);
        second.LoadStateDict(first.StateDict());
        first.Step(1e-2, new Dictionary<string, Tensor> { ["m.weight"] = Grad(2) });
        second.Step(1e-2, new Dictionary<string, Tensor> { ["m.weight"] = Grad(2) });
        Assert.Equal(a.Parameter.data<float>().ToArray(), b.Parameter.data<float>().ToArray());
        Assert.Equal(2, second.StepCount);
    }
}
