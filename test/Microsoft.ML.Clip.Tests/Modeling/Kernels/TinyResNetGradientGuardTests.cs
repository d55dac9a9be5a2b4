using System;
using System.Collections.Generic;
using System.Linq;
using Microsoft.ML.Clip.Modeling;
using Microsoft.ML.Clip.Modeling.Kernels;
using Microsoft.ML.Clip.Weights;
using Xunit;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace Microsoft.ML.Clip.Tests.Modeling.Kernels;

/// <summary>
/// The reproduction of the Zen 5 finding: train-mode gradients of the tiny ResNet fixture tower in fp32 against a
/// float64 copy of the same tower on the same input. On AVX-512 Zen 5 the stem convolution's weight gradient was
/// 33 % off with libtorch's oneDNN convolution.
/// </summary>
[Collection(ConvPathCollection.Name)]
public sealed class TinyResNetGradientGuardTests : IDisposable
{
    private const string Prefix = "visual.";
    private static readonly ConvSignature Stem = new(4, 3, 32, 32, 8, 3, 3, 2, 2, 1, 1, ScalarType.Float32);
    private readonly ITestOutputHelper _output;

    public TinyResNetGradientGuardTests(ITestOutputHelper output)
    {
        _output = output;
        ConvPathSelector.Override = null;
        ConvPathSelector.Reset();
    }

    public void Dispose()
    {
        ConvPathSelector.Override = null;
        ConvPathSelector.Reset();
    }

    [FixtureFact, Trait("Category", "Fixtures"), Trait("Category", "Slow")]
    public void WithTheProtectionEveryGradientMatchesFloat64()
    {
        ConvPathSelector.Override = ConvPathMode.Auto;
        var lines = new List<string>();
        using var log = ConvPathSelector.Subscribe(lines.Add);

        var mismatches = GradientMismatches();
        foreach (var line in lines) _output.WriteLine(line);
        Assert.True(mismatches.Count == 0, "With kernel checks on: " + string.Join("; ", mismatches));

        // Every fp32 convolution signature of the tower was checked once, the stem among them, and logged.
        var stem = Assert.Single(ConvPathSelector.Decisions, d => d.Signature == Stem);
        Assert.True(stem.Trusted, stem.Message);
        Assert.Equal(ConvPathSelector.Decisions.Count, lines.Count);
        Assert.Contains(lines, l => l.Contains(Stem.ToString(), StringComparison.Ordinal));
    }

    [FixtureFact, Trait("Category", "Fixtures"), Trait("Category", "Slow")]
    public void WithOneDnnForcedTheCheckDetectsWhatTheGradientsShow()
    {
        // Unprotected: libtorch's own convolution everywhere. On an unaffected CPU the gradients match; on an affected
        // one they do not, and then the kernel check must say so for the stem convolution.
        ConvPathSelector.Override = ConvPathMode.Native;
        var mismatches = GradientMismatches();
        var verdict = ConvPathSelector.Decide(Stem);
        _output.WriteLine(verdict.Message);
        _output.WriteLine(mismatches.Count == 0 ? "oneDNN gradients match float64 on this CPU" : "oneDNN gradients off: " + string.Join("; ", mismatches));
        Assert.True(mismatches.Count == 0 || !verdict.Native.Passed,
            "The tower's gradients are off with oneDNN forced, but the kernel check passed the stem convolution: " + string.Join("; ", mismatches));
        Assert.True(verdict.Trusted, verdict.Message);
    }

    // Runs the fixture's train-mode step in fp32 (the mode in force) and in float64, returns every parameter whose
    // gradient differs by more than 2e-4 of its largest float64 entry (+ 1e-3 relative; floors as in
    // ModifiedResNetTests: attnpool.k_proj.bias has a gradient that is zero up to rounding).
    private static List<string> GradientMismatches()
    {
        using var scope = NewDisposeScope();
        using var fixture = new TinyFixture("tiny-rn-quickgelu");
        var fp32 = TrainStepGradients(fixture, ScalarType.Float32);
        var fp64 = TrainStepGradients(fixture, ScalarType.Float64);
        var mismatches = new List<string>();
        foreach (var (name, expected) in fp64)
        {
            var actual = fp32[name].to(ScalarType.Float64);
            double scale = expected.abs().max().item<double>();
            double maxError = (actual - expected).abs().max().item<double>();
            var excess = ((actual - expected).abs() - (expected.abs() * 1e-3 + 2e-4 * Math.Max(scale, 1e-3))).max().item<double>();
            if (!(excess <= 0)) mismatches.Add($"grad '{name}': max |a-b| = {maxError:E3} (max |b| {scale:E3})");
        }
        return mismatches;
    }

    private static Dictionary<string, Tensor> TrainStepGradients(TinyFixture fixture, ScalarType dtype)
    {
        var model = ModifiedResNet.FromConfig(new[] { 1, 1, 1, 1 }, width: 16, imageSize: 32, embedDim: 48, headWidth: 16);
        var visual = fixture.Weights.Where(p => p.Key.StartsWith(Prefix, StringComparison.Ordinal))
            .ToDictionary(p => p.Key[Prefix.Length..], p => p.Value);
        var (missing, unexpected) = model.load_state_dict(visual, strict: true);
        Assert.Empty(missing);
        Assert.Empty(unexpected);
        model.ToComputeType(dtype);
        model.train();

        var features = model.call(fixture.Pixels.to(dtype));
        var image = nn.functional.normalize(features, dim: -1);
        var text = nn.functional.normalize(fixture.IO["output.text_features"].to(dtype), dim: -1);
        var logits = fixture.IO["output.logit_scale_exp"].to(dtype) * image.matmul(text.t());
        var labels = arange(features.shape[0], dtype: ScalarType.Int64);
        var loss = (nn.functional.cross_entropy(logits, labels) + nn.functional.cross_entropy(logits.t(), labels)) / 2;
        loss.backward();
        return model.named_parameters().ToDictionary(p => p.name, p => p.parameter.grad!.detach().clone());
    }
}

/// <summary>Tests that change the process-wide convolution path settings run one at a time.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class ConvPathCollection
{
    public const string Name = "Convolution path settings";
}
