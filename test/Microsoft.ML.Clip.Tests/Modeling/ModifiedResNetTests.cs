using System;
using System.Collections.Generic;
using System.Linq;
using Microsoft.ML.Clip.Modeling;
using Microsoft.ML.Clip.Weights;
using TorchSharp;
using Xunit;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace Microsoft.ML.Clip.Tests.Modeling;

public sealed class ModifiedResNetTests
{
    private const string Prefix = "visual.";
    private readonly ITestOutputHelper _output;

    public ModifiedResNetTests(ITestOutputHelper output) => _output = output;

    // --- fixture helpers -------------------------------------------------------------------------------------

    private static string FixtureFile(string file) => Fixtures.Path("openclip", "tiny-rn-quickgelu", file);

    /// <summary>The fixture's vision config: layers [1,1,1,1], width 16, image 32, head width 16, embed 48.</summary>
    private static ModifiedResNet CreateTiny() =>
        ModifiedResNet.FromConfig(new[] { 1, 1, 1, 1 }, width: 16, imageSize: 32, embedDim: 48, headWidth: 16);

    /// <summary>The <c>visual.*</c> tensors of the fixture weights, prefix stripped.</summary>
    private static Dictionary<string, Tensor> LoadVisualWeights()
    {
        var all = SafeTensors.Load(FixtureFile("weights.safetensors"));
        var visual = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (var (name, tensor) in all)
        {
            if (name.StartsWith(Prefix, StringComparison.Ordinal)) visual.Add(name[Prefix.Length..], tensor);
            else tensor.Dispose();
        }
        return visual;
    }

    private static Dictionary<string, Tensor> LoadIo() => SafeTensors.Load(FixtureFile("io.safetensors"));

    /// <summary>
    /// Checks that the module's state dict and <paramref name="weights"/> have exactly the same names, shapes and
    /// dtypes (reporting every difference), then loads them strictly.
    /// </summary>
    private static void LoadStrict(nn.Module module, Dictionary<string, Tensor> weights)
    {
        var expected = module.state_dict();
        var missing = expected.Keys.Where(k => !weights.ContainsKey(k)).OrderBy(k => k, StringComparer.Ordinal).ToList();
        var unexpected = weights.Keys.Where(k => !expected.ContainsKey(k)).OrderBy(k => k, StringComparer.Ordinal).ToList();
        var mismatched = expected.Keys.Where(weights.ContainsKey)
            .Where(k => !expected[k].shape.SequenceEqual(weights[k].shape) || expected[k].dtype != weights[k].dtype)
            .Select(k => $"{k}: module {expected[k].dtype}[{string.Join(",", expected[k].shape)}] vs file {weights[k].dtype}[{string.Join(",", weights[k].shape)}]")
            .ToList();
        Assert.True(missing.Count == 0 && unexpected.Count == 0 && mismatched.Count == 0,
            $"State dict mismatch. Missing from file: [{string.Join(", ", missing)}]; unexpected in file: " +
            $"[{string.Join(", ", unexpected)}]; shape/dtype: [{string.Join("; ", mismatched)}]");

        var (missingAfter, unexpectedAfter) = module.load_state_dict(weights, strict: true);
        Assert.Empty(missingAfter);
        Assert.Empty(unexpectedAfter);
    }

    private static ModifiedResNet LoadTiny()
    {
        var model = CreateTiny();
        LoadStrict(model, LoadVisualWeights());
        return model;
    }

    /// <summary>Largest |a−b| and the largest excess over atol + rtol·|b| (≤ 0 means within tolerance).</summary>
    private static (double maxAbs, double worstExcess) Compare(Tensor actual, Tensor expected, double atol, double rtol)
    {
        using var a = actual.detach().to(ScalarType.Float64);
        using var b = expected.detach().to(ScalarType.Float64);
        using var diff = (a - b).abs();
        using var excess = diff - (atol + rtol * b.abs());
        return (diff.max().item<double>(), excess.max().item<double>());
    }

    // --- architecture ----------------------------------------------------------------------------------------

    [Trait("Category", "Fixtures")]
    [FixtureFact]
    public void FixtureWeightsLoadStrictlyAndBuffersRoundTrip()
    {
        using var scope = NewDisposeScope();
        var weights = LoadVisualWeights();
        var model = CreateTiny();
        LoadStrict(model, weights);

        var state = model.state_dict();
        Assert.Equal(weights.Count, state.Count);
        Assert.Contains("bn1.num_batches_tracked", state.Keys);
        Assert.Contains("layer1.0.downsample.1.running_var", state.Keys);
        foreach (var (name, tensor) in weights)
            Assert.True(state[name].dtype == tensor.dtype && state[name].eq(tensor).all().item<bool>(), $"'{name}' did not round-trip");

        // Parameters and buffers are told apart as in open_clip: the gradients in io.safetensors name exactly
        // the parameters.
        var io = LoadIo();
        var gradNames = io.Keys.Where(k => k.StartsWith("grad." + Prefix, StringComparison.Ordinal))
            .Select(k => k[("grad." + Prefix).Length..]).OrderBy(k => k, StringComparer.Ordinal);
        var paramNames = model.named_parameters().Select(p => p.name).OrderBy(k => k, StringComparer.Ordinal);
        Assert.Equal(gradNames, paramNames);
        Assert.Equal(1_319_624L, model.parameters().Sum(p => p.numel()));
    }

    [Fact]
    public void Rn50HasOpenClipParameterCountAndKeys()
    {
        using var scope = NewDisposeScope();
        // open_clip RN50: layers [3,4,6,3], width 64, image 224, embed 1024, head width 64 -> 32 heads.
        var rn50 = ModifiedResNet.FromConfig(new[] { 3, 4, 6, 3 }, width: 64, imageSize: 224, embedDim: 1024);
        Assert.Equal(32, rn50.Heads);
        Assert.Equal(38_316_896L, rn50.parameters().Sum(p => p.numel()));

        var keys = rn50.state_dict().Keys.ToHashSet();
        Assert.Contains("layer1.0.downsample.0.weight", keys);   // channel change 64 -> 256 at stride 1
        Assert.DoesNotContain("layer1.1.downsample.0.weight", keys);
        Assert.Contains("layer4.0.downsample.1.num_batches_tracked", keys);
        Assert.Contains("layer3.5.bn3.running_mean", keys);
        Assert.Contains("attnpool.positional_embedding", keys);
        Assert.Equal(new long[] { 50, 2048 }, rn50.state_dict()["attnpool.positional_embedding"].shape);
        // 3 stem BNs + 3 per block (16 blocks) + 4 downsample BNs, three buffers each.
        Assert.Equal((3 + 3 * 16 + 4) * 3, rn50.named_buffers().Count());

        rn50.eval();
        using (no_grad())
        {
            var features = rn50.call(randn(1, 3, 224, 224));
            Assert.Equal(new long[] { 1, 1024 }, features.shape);
            Assert.True(features.isfinite().all().item<bool>());
        }
        rn50.Dispose();

        // RN101 (layers [3,4,23,3], embed 512) as a second check of the block/downsample bookkeeping.
        using var rn101 = ModifiedResNet.FromConfig(new[] { 3, 4, 23, 3 }, width: 64, imageSize: 224, embedDim: 512);
        Assert.Equal(56_259_936L, rn101.parameters().Sum(p => p.numel()));
    }

    [Fact]
    public void InitialisationFollowsOpenClip()
    {
        using var scope = NewDisposeScope();
        using var model = CreateTiny();
        var state = model.state_dict();
        foreach (var stage in new[] { "layer1", "layer2", "layer3", "layer4" })
            Assert.Equal(0.0, state[$"{stage}.0.bn3.weight"].abs().max().item<float>());
        Assert.Equal(1.0f, state["bn3.weight"].min().item<float>());          // the stem's bn3 is not zeroed
        Assert.Equal(0.0f, state["bn1.running_mean"].abs().max().item<float>());
        Assert.Equal(1.0f, state["bn1.running_var"].min().item<float>());
        Assert.Equal(0L, state["bn1.num_batches_tracked"].item<long>());

        double expectedStd = 1.0 / Math.Sqrt(512);
        foreach (var name in new[] { "attnpool.q_proj.weight", "attnpool.k_proj.weight", "attnpool.v_proj.weight", "attnpool.c_proj.weight" })
        {
            double std = state[name].std().item<float>();
            Assert.InRange(std / expectedStd, 0.95, 1.05);
        }
        double posStd = state["attnpool.positional_embedding"].std().item<float>();
        Assert.InRange(posStd / expectedStd, 0.85, 1.15);
        Assert.Equal(new long[] { 2, 512 }, state["attnpool.positional_embedding"].shape);
    }

    [Fact]
    public void RejectsInvalidConfigurationsAndInputs()
    {
        using var scope = NewDisposeScope();
        Assert.Throws<ArgumentException>(() => new ModifiedResNet(new[] { 1, 1, 1 }, 48, 8, 32, 16));
        Assert.Throws<ArgumentException>(() => new ModifiedResNet(new[] { 1, 1, 1, 1 }, 48, 7, 32, 16));
        Assert.Throws<ArgumentException>(() => ModifiedResNet.FromConfig(new[] { 1, 1, 1, 1 }, 16, 32, 48, headWidth: 24));
        Assert.Throws<ArgumentOutOfRangeException>(() => new ModifiedResNet(new[] { 1, 1, 1, 1 }, 48, 8, 32, 15));

        using var model = CreateTiny();
        model.eval();
        var wrongSize = Assert.Throws<ArgumentException>(() => model.call(randn(1, 3, 64, 64)));
        Assert.Contains("image size", wrongSize.Message);
        Assert.Throws<ArgumentException>(() => model.call(randn(1, 1, 32, 32)));
    }

    // --- numerical parity with open_clip --------------------------------------------------------------------

    [Trait("Category", "Fixtures")]
    [FixtureFact]
    public void EvalForwardMatchesOpenClipImageFeatures()
    {
        using var scope = NewDisposeScope();
        using var model = LoadTiny();
        model.eval();
        var io = LoadIo();

        Tensor features;
        using (no_grad()) features = model.call(io["input.pixels"]);

        var expected = io["output.image_features"];
        Assert.Equal(expected.shape, features.shape);
        Assert.Equal(ScalarType.Float32, features.dtype);
        var (maxAbs, excess) = Compare(features, expected, 1e-4, 1e-4);
        _output.WriteLine($"eval fp32 image features: max |a-b| = {maxAbs:E3} (|b| max {expected.abs().max().item<float>():F3})");
        Assert.True(excess <= 0, $"max |a-b| = {maxAbs:E3} exceeds 1e-4 + 1e-4|b| by {excess:E3}");
    }

    [Trait("Category", "Fixtures")]
    [FixtureFact]
    public void TrainModeGradientsMatchOpenClipAndRunningStatsUpdate()
    {
        using var scope = NewDisposeScope();
        // The fixture's grad.visual.* are gradients of open_clip's ClipLoss over the whole model in train mode.
        // The text tower has no dropout or BatchNorm, so its features in train mode equal output.text_features;
        // they and exp(logit_scale) are constants for the image tower, which makes its gradients reproducible here.
        var weights = LoadVisualWeights();
        using var model = CreateTiny();
        LoadStrict(model, weights);
        model.train();
        var io = LoadIo();

        var features = model.call(io["input.pixels"]);
        var image = nn.functional.normalize(features, dim: -1);
        var text = nn.functional.normalize(io["output.text_features"], dim: -1);
        var logitsPerImage = io["output.logit_scale_exp"] * image.matmul(text.t());
        var labels = arange(features.shape[0], dtype: ScalarType.Int64);
        var loss = (nn.functional.cross_entropy(logitsPerImage, labels) + nn.functional.cross_entropy(logitsPerImage.t(), labels)) / 2;
        loss.backward();

        double worstAbs = 0, worstRelative = 0;
        string worstName = "";
        foreach (var (name, parameter) in model.named_parameters())
        {
            var grad = parameter.grad;
            Assert.True(grad is not null, $"'{name}' has no gradient");
            Assert.True(grad!.isfinite().all().item<bool>(), $"'{name}' has a non-finite gradient");
            var expected = io["grad." + Prefix + name];
            var scale = expected.abs().max().item<float>();
            // Gradients go through BatchNorm's batch statistics and a 32-head softmax: the absolute tolerance is
            // relative to the tensor's largest entry, floored at 2e-7 for attnpool.k_proj.bias, whose gradient is
            // zero up to rounding (a key bias shifts all of a query's scores equally).
            var (maxAbs, excess) = Compare(grad, expected, 2e-4 * Math.Max(scale, 1e-3), 1e-3);
            worstAbs = Math.Max(worstAbs, maxAbs);
            if (scale > 1e-6 && maxAbs / scale > worstRelative) { worstRelative = maxAbs / scale; worstName = name; }
            Assert.True(excess <= 0, $"grad '{name}': max |a-b| = {maxAbs:E3} (max |b| {scale:E3}) exceeds tolerance by {excess:E3}");
        }
        _output.WriteLine($"train-mode gradients: max |a-b| over all parameters = {worstAbs:E3}; " +
            $"largest max|a-b| / max|b| = {worstRelative:E3} ({worstName})");

        // Running statistics: every BatchNorm counted one batch and moved its mean; the stem's first BatchNorm
        // equals PyTorch's update rule (momentum 0.1, unbiased batch variance) computed by hand.
        var state = model.state_dict();
        foreach (var name in weights.Keys.Where(k => k.EndsWith(".num_batches_tracked", StringComparison.Ordinal)))
        {
            Assert.Equal(weights[name].item<long>() + 1, state[name].item<long>());
            var mean = name[..^"num_batches_tracked".Length] + "running_mean";
            Assert.False(state[mean].eq(weights[mean]).all().item<bool>(), $"'{mean}' did not change in train mode");
        }
        using (no_grad())
        {
            var stem = nn.functional.conv2d(io["input.pixels"], weights["conv1.weight"], strides: new long[] { 2, 2 }, padding: new long[] { 1, 1 });
            var batchMean = stem.mean(new long[] { 0, 2, 3 });
            var batchVar = stem.var(new long[] { 0, 2, 3 }, unbiased: true);
            var (meanErr, meanExcess) = Compare(state["bn1.running_mean"], 0.9 * weights["bn1.running_mean"] + 0.1 * batchMean, 1e-6, 1e-5);
            var (varErr, varExcess) = Compare(state["bn1.running_var"], 0.9 * weights["bn1.running_var"] + 0.1 * batchVar, 1e-6, 1e-5);
            _output.WriteLine($"bn1 running stats after one train step: mean err {meanErr:E3}, var err {varErr:E3}");
            Assert.True(meanExcess <= 0 && varExcess <= 0, $"bn1 running stats: mean err {meanErr:E3}, var err {varErr:E3}");
        }

        // Back in eval mode the tower uses the (updated) running statistics: outputs differ from train mode.
        model.eval();
        using (no_grad())
        {
            var evalFeatures = model.call(io["input.pixels"]);
            Assert.False(evalFeatures.allclose(features.detach(), 1e-3, 1e-3));
        }
    }

    [Trait("Category", "Fixtures")]
    [FixtureFact]
    public void Bf16ForwardAndBackwardStayCloseToFp32()
    {
        using var scope = NewDisposeScope();
        var io = LoadIo();
        var pixels = io["input.pixels"];
        var weights = LoadVisualWeights();

        using var fp32 = LoadTiny();
        fp32.eval();
        Tensor reference;
        using (no_grad()) reference = fp32.call(pixels);

        using var bf16 = LoadTiny().ToComputeType(ScalarType.BFloat16);
        Assert.Equal(ScalarType.BFloat16, bf16.ComputeType);
        var state = bf16.state_dict();
        Assert.Equal(ScalarType.Int64, state["bn1.num_batches_tracked"].dtype);
        Assert.Equal(ScalarType.BFloat16, state["bn1.running_var"].dtype);
        Assert.Equal(ScalarType.BFloat16, state["attnpool.positional_embedding"].dtype);

        bf16.eval();
        Tensor features;
        using (no_grad()) features = bf16.call(pixels);   // fp32 pixels are cast at the entry
        Assert.Equal(ScalarType.BFloat16, features.dtype);

        var f = features.to(ScalarType.Float32);
        var cosine = nn.functional.cosine_similarity(f, reference, dim: 1);
        double minCosine = cosine.min().item<float>();
        var (maxAbs, _) = Compare(f, io["output.image_features"], 0, 0);
        _output.WriteLine($"bf16 vs fp32: min cosine {minCosine:F5}, max |a-b| vs open_clip {maxAbs:E3} (|b| max {reference.abs().max().item<float>():F3})");
        Assert.True(minCosine >= 0.99, $"bf16 features: min cosine to fp32 {minCosine:F5} < 0.99");

        // bf16 training step: batch statistics, backward, finite bf16 gradients everywhere.
        bf16.train();
        var loss = bf16.call(pixels.to(ScalarType.BFloat16)).to(ScalarType.Float32).pow(2).mean();
        loss.backward();
        foreach (var (name, parameter) in bf16.named_parameters())
        {
            Assert.True(parameter.grad is not null, $"'{name}' has no gradient in bf16");
            Assert.Equal(ScalarType.BFloat16, parameter.grad!.dtype);
            Assert.True(parameter.grad.isfinite().all().item<bool>(), $"'{name}' has a non-finite bf16 gradient");
        }
        Assert.Equal(weights["bn1.num_batches_tracked"].item<long>() + 1, bf16.state_dict()["bn1.num_batches_tracked"].item<long>());
    }

    [Fact]
    public void ModelOutlivesTheDisposeScopesItWasBuiltAndConvertedIn()
    {
        ModifiedResNet model;
        using (NewDisposeScope())
        {
            model = CreateTiny();
            model.call(randn(2, 3, 32, 32));
        }
        // A Parameter made in a constructor joins the caller's dispose scope unless detached.
        using (NewDisposeScope()) model.call(randn(2, 3, 32, 32));
        using (NewDisposeScope()) model.ToComputeType(ScalarType.BFloat16);
        using (NewDisposeScope()) model.ToComputeType(ScalarType.Float32);

        using var scope = NewDisposeScope();
        model.eval();
        var features = model.call(randn(2, 3, 32, 32));
        Assert.Equal(new long[] { 2, 48 }, features.shape);
        Assert.True(features.isfinite().all().item<bool>());
        Assert.All(model.parameters(), p => Assert.True(p.numel() > 0 && p.requires_grad));
        model.Dispose();
    }
}
