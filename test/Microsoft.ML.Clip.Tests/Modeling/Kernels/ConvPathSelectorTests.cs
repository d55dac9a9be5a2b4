using System;
using System.Collections.Generic;
using System.Linq;
using Microsoft.ML.Clip.Modeling.Kernels;
using Xunit;
using static TorchSharp.torch;

namespace Microsoft.ML.Clip.Tests.Modeling.Kernels;

[Collection(ConvPathCollection.Name)]
public sealed class ConvPathSelectorTests : IDisposable
{
    private static readonly ConvSignature Small = new(4, 8, 12, 12, 16, 3, 3, 1, 1, 1, 1, ScalarType.Float32);

    public ConvPathSelectorTests()
    {
        ConvPathSelector.Override = null;
        ConvPathSelector.Reset();
    }

    public void Dispose()
    {
        ConvPathSelector.Override = null;
        ConvPathSelector.Reset();
    }

    [Theory]
    [InlineData(null, nameof(ConvPathMode.Auto))]
    [InlineData("", nameof(ConvPathMode.Auto))]
    [InlineData("auto", nameof(ConvPathMode.Auto))]
    [InlineData("oneDNN", nameof(ConvPathMode.Native))]
    [InlineData("native", nameof(ConvPathMode.Native))]
    [InlineData(" IM2COL ", nameof(ConvPathMode.Im2Col))]
    // The mode by name: ConvPathMode is internal, and xunit theories are public methods.
    public void ParsesTheEnvironmentValues(string? value, string expected) =>
        Assert.Equal(Enum.Parse<ConvPathMode>(expected), ConvPathSelector.ParseMode(value));

    [Fact]
    public void AnUnknownValueNamesTheVariableAndTheChoices()
    {
        var error = Assert.Throws<InvalidOperationException>(() => ConvPathSelector.ParseMode("mkl"));
        Assert.Contains("CLIP_CONV_PATH='mkl'", error.Message);
        Assert.Contains("onednn, im2col or auto", error.Message);
    }

    [Fact]
    public void EnvironmentVariableForcesThePathUnlessOverridden()
    {
        var before = Environment.GetEnvironmentVariable(ConvPathSelector.EnvironmentVariable);
        try
        {
            Environment.SetEnvironmentVariable(ConvPathSelector.EnvironmentVariable, "im2col");
            Assert.Equal(ConvPathMode.Im2Col, ConvPathSelector.Mode);
            Assert.Equal(ConvPath.Im2Col, ConvPathSelector.Choose(Small, training: true));
            Environment.SetEnvironmentVariable(ConvPathSelector.EnvironmentVariable, "onednn");
            Assert.Equal(ConvPath.Native, ConvPathSelector.Choose(Small, training: true));
            ConvPathSelector.Override = ConvPathMode.Im2Col;
            Assert.Equal(ConvPath.Im2Col, ConvPathSelector.Choose(Small, training: true));
            Assert.Empty(ConvPathSelector.Decisions); // forced paths are not checked
        }
        finally
        {
            Environment.SetEnvironmentVariable(ConvPathSelector.EnvironmentVariable, before);
        }
    }

    [Fact]
    public void ForcedPathIsReportedOncePerSignature()
    {
        var lines = new List<string>();
        using (ConvPathSelector.Subscribe(lines.Add))
        {
            ConvPathSelector.Override = ConvPathMode.Im2Col;
            for (int i = 0; i < 3; i++) ConvPathSelector.Choose(Small, training: true);
            ConvPathSelector.Choose(Small.WithBatch(5), training: false);
        }
        ConvPathSelector.Choose(Small.WithBatch(6), training: true); // unsubscribed: not seen
        Assert.Equal(2, lines.Count);
        Assert.All(lines, l => Assert.Contains("forced", l));
        Assert.Contains(Small.ToString(), lines[0]);
    }

    [Fact]
    public void AutoChecksOnceOnTheFirstTrainingCallAndInferenceFollowsTheDecision()
    {
        ConvPathSelector.Override = ConvPathMode.Auto;
        var lines = new List<string>();
        using var log = ConvPathSelector.Subscribe(lines.Add);

        Assert.Equal(ConvPath.Native, ConvPathSelector.Choose(Small, training: false)); // inference: no check
        Assert.Empty(ConvPathSelector.Decisions);
        Assert.Empty(lines);

        var first = ConvPathSelector.Choose(Small, training: true);
        var decision = Assert.Single(ConvPathSelector.Decisions);
        Assert.Equal(Small, decision.Signature);
        Assert.Equal(first, decision.Path);
        Assert.True(decision.Trusted, decision.Message);
        Assert.Equal(ConvPath.Native, decision.Path); // oneDNN passes here (AVX2); an affected CPU would get im2col
        Assert.Null(decision.Im2Col);               // im2col is only checked when the native kernel fails
        var line = Assert.Single(lines);
        Assert.Contains(Small.ToString(), line);
        Assert.Contains("onednn OK", line);

        Assert.Equal(first, ConvPathSelector.Choose(Small, training: true));
        Assert.Equal(first, ConvPathSelector.Choose(Small, training: false));
        Assert.Single(lines);

        ConvPathSelector.Choose(Small.WithBatch(2), training: true); // another batch is another signature
        Assert.Equal(2, ConvPathSelector.Decisions.Count);
    }

    [Fact]
    public void DecisionLineNamesBothChecksWhenTheNativeKernelFails()
    {
        var failed = new KernelCheckResult("conv2d[onednn] x", ScalarType.Float32,
            [new KernelComparison("forward", 1e-7, 1, 1e-5), new KernelComparison("grad weight", 1.7, 5.2, 3e-5)]);
        var passed = new KernelCheckResult("conv2d[im2col] x", ScalarType.Float32, [new KernelComparison("grad weight", 2e-6, 5.2, 3e-5)]);
        var decision = new ConvDecision(Small, ConvPath.Im2Col, 4, failed, passed);
        Assert.True(decision.Trusted);
        Assert.Contains("onednn FAIL (grad weight: max err 1.70E+000", decision.Message);
        Assert.Contains("im2col OK", decision.Message);
        Assert.EndsWith("-> using im2col", decision.Message);

        var bothOff = decision with { Im2Col = failed, Path = ConvPath.Native };
        Assert.False(bothOff.Trusted);
        Assert.Contains("WARNING", bothOff.Message);
    }

    [Fact]
    public void CheckBatchFitsTheBudgetButKeepsTwoSamples()
    {
        Assert.Equal(4, ConvKernelCheck.CheckBatch(Small));
        var rn50 = new ConvSignature(256, 64, 56, 56, 64, 3, 3, 1, 1, 1, 1, ScalarType.Float32);
        long cut = ConvKernelCheck.CheckBatch(rn50);
        Assert.InRange(cut, 2, 255);
        Assert.True(6 * rn50.ForwardFlopsPerSample * Math.Max(cut - 1, 1) <= ConvKernelCheck.FlopBudget);
        Assert.Equal(1, ConvKernelCheck.CheckBatch(rn50.WithBatch(1)));
    }

    [Fact]
    public void CheckedConv2dKeepsConv2dNamesInitialisationAndResults()
    {
        using var scope = NewDisposeScope();
        manual_seed(5);
        using var reference = nn.Conv2d(3, 8, 3, stride: 2, padding: 1, bias: true);
        manual_seed(5);
        using var conv = new CheckedConv2d(3, 8, 3, stride: 2, padding: 1, hasBias: true);
        Assert.Equal(reference.state_dict().Keys.OrderBy(k => k), conv.state_dict().Keys.OrderBy(k => k));
        TensorAssert.Close(conv.Weight, reference.weight!, 0, 0, "same initial draws");
        TensorAssert.Close(conv.Bias!, reference.bias!, 0, 0, "same initial draws");
        using var noBias = new CheckedConv2d(3, 8, 3);
        Assert.Equal(["weight"], noBias.state_dict().Keys);

        var x = randn(4, 3, 32, 32);
        var expected = reference.call(x);
        foreach (var mode in new[] { ConvPathMode.Native, ConvPathMode.Im2Col, ConvPathMode.Auto })
        {
            ConvPathSelector.Override = mode;
            TensorAssert.Close(conv.call(x), expected, 1e-5, 1e-5, $"CheckedConv2d ({mode})");
        }
        var wrongType = Assert.Throws<ArgumentException>(() => conv.call(x.to(ScalarType.BFloat16)));
        Assert.Contains("Cast the input", wrongType.Message);
    }
}
