using System;
using System.Linq;
using Microsoft.ML.Clip.Modeling;
using Xunit;
using static TorchSharp.torch;

namespace Microsoft.ML.Clip.Tests.Modeling;

/// <summary>Weights loading is strict and all-or-nothing, with errors that name the tensors.</summary>
public class StrictLoadTests
{
    [Trait("Category", "Fixtures")]
    [FixtureFact]
    public void MissingTensorIsNamed()
    {
        using var fx = new TinyFixture("tiny-gelu");
        var dict = fx.Weights.Where(kv => kv.Key != "visual.ln_pre.bias").ToDictionary(kv => kv.Key, kv => kv.Value);
        using var model = new ClipModel(fx.Config);
        var ex = Assert.Throws<StateDictMismatchException>(() => ClipWeights.Load(model, dict, "test dict"));
        Assert.Equal(["visual.ln_pre.bias"], ex.Missing);
        Assert.Empty(ex.Unexpected);
        Assert.Contains("visual.ln_pre.bias [64]", ex.Message);
        Assert.Contains("Missing", ex.Message);
    }

    [Trait("Category", "Fixtures")]
    [FixtureFact]
    public void UnexpectedTensorIsNamed()
    {
        using var fx = new TinyFixture("tiny-gelu");
        using var extra = zeros(3, 5);
        var dict = fx.Weights.ToDictionary(kv => kv.Key, kv => kv.Value);
        dict["visual.extra_head.weight"] = extra;
        using var model = new ClipModel(fx.Config);
        var ex = Assert.Throws<StateDictMismatchException>(() => ClipWeights.Load(model, dict));
        Assert.Equal(["visual.extra_head.weight"], ex.Unexpected);
        Assert.Contains("visual.extra_head.weight [3, 5]", ex.Message);
    }

    [Trait("Category", "Fixtures")]
    [FixtureFact]
    public void WrongShapeIsNamedWithBothShapesAndNothingIsCopied()
    {
        using var fx = new TinyFixture("tiny-gelu");
        using var transposed = fx.Weights["text_projection"].t().contiguous();
        var dict = fx.Weights.ToDictionary(kv => kv.Key, kv => kv.Value);
        dict["text_projection"] = transposed;
        using var model = new ClipModel(fx.Config);
        using var before = model.state_dict()["token_embedding.weight"].clone();

        var ex = Assert.Throws<StateDictMismatchException>(() => ClipWeights.Load(model, dict));
        Assert.Equal(["text_projection"], ex.Mismatched);
        Assert.Contains("text_projection: [48, 64] in the source, [64, 48] in the model", ex.Message);
        // All-or-nothing: valid tensors were not copied either.
        Assert.True(before.eq(model.state_dict()["token_embedding.weight"]).all().item<bool>());
    }

    [Trait("Category", "Fixtures")]
    [FixtureFact]
    public void WrongArchitectureListsEverything()
    {
        using var fx = new TinyFixture("tiny-gelu");
        using var model = new ClipModel(fx.Config with { Text = fx.Config.Text with { Layers = 3 } });
        var ex = Assert.Throws<StateDictMismatchException>(() => ClipWeights.Load(model, fx.WeightsPath));
        Assert.Equal(12, ex.Missing.Count); // every tensor of text block 2
        Assert.All(ex.Missing, n => Assert.StartsWith("transformer.resblocks.2.", n));
        Assert.Contains(fx.WeightsPath, ex.Message);
    }

    [Trait("Category", "Fixtures")]
    [FixtureFact]
    public void IntegerTensorForFloatParameterIsRejected()
    {
        using var fx = new TinyFixture("tiny-gelu");
        using var ints = ones(new long[] { 64 }, ScalarType.Int64);
        var dict = fx.Weights.ToDictionary(kv => kv.Key, kv => kv.Value);
        dict["ln_final.bias"] = ints;
        using var model = new ClipModel(fx.Config);
        var ex = Assert.Throws<StateDictMismatchException>(() => ClipWeights.Load(model, dict));
        Assert.Equal(["ln_final.bias"], ex.Mismatched);
    }

    [Trait("Category", "Fixtures")]
    [FixtureFact]
    public void LoadingKeepsParameterObjects()
    {
        // Optimizers hold parameter references: a load must write into them, not replace them.
        using var fx = new TinyFixture("tiny-gelu");
        using var model = new ClipModel(fx.Config);
        var before = model.parameters().ToList();
        ClipWeights.Load(model, fx.WeightsPath);
        var after = model.parameters().ToList();
        Assert.Equal(before.Count, after.Count);
        for (int i = 0; i < before.Count; i++) Assert.Same(before[i], after[i]);
        Assert.True(after.All(p => p.requires_grad));
    }
}
