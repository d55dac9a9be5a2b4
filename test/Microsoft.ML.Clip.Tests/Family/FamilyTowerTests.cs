using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using Microsoft.ML.Clip.Modeling;
using Microsoft.ML.Clip.Tests.Modeling;
using Microsoft.ML.Clip.Tests.Onnx;
using Microsoft.ML.Clip.Training;
using Microsoft.ML.Clip.Training.Locking;
using Microsoft.ML.Clip.Training.Objectives;
using Microsoft.ML.Clip.Training.Objectives.EvaClip;
using Microsoft.ML.Clip.Training.Objectives.Flip;
using TorchSharp;
using Xunit;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace Microsoft.ML.Clip.Tests.Family;

/// <summary>
/// The EVA02 and SigLIP towers with every part of the library that looks inside a tower: layouts (locks, layer-wise
/// learning rates), activation checkpointing, patch selection (FLIP), bf16 inference and ONNX export. Random weights at
/// the fixtures' sizes; no fixture files needed.
/// </summary>
public class FamilyTowerTests(ITestOutputHelper output)
{
    public static TheoryData<string> Towers => new() { "eva02-tiny", "siglip-tiny", "siglip2-tiny" };

    private static ClipModel NewModel(string name, int seed = 1, double patchDropout = 0)
    {
        var config = FamilyFixture.ConfigOf(name);
        if (patchDropout > 0) config = config with { Vision = config.Vision with { PatchDropout = patchDropout } };
        manual_seed(seed);
        return new ClipModel(config);
    }

    private static Tensor Pixels(int n, int seed) => randn([n, 3, 32, 32], generator: new Generator((ulong)seed));

    // Token ids as SigLIP's tokenizer writes them (every row the full context) and as CLIP's (end-of-text the largest id).
    private static Tensor Tokens(int n, int seed)
    {
        var ids = randint(2, 998, [n, 16], generator: new Generator((ulong)seed));
        ids[TensorIndex.Colon, 10] = 999;
        return ids;
    }

    [Theory]
    [MemberData(nameof(Towers))]
    public void EveryTensorIsInTheLayoutsStemBlocksOrHead(string name)
    {
        using var model = NewModel(name);
        var sections = model.named_parameters().Select(p => p.name).Where(n => ClipTowers.TowerOf(n) != ClipTower.Shared)
            .ToDictionary(n => n, n => ClipTowers.SectionOf(n, model));
        bool eva = name.StartsWith("eva", StringComparison.Ordinal);
        Assert.Equal((TowerSection.Stem, -1), sections["visual.trunk.patch_embed.proj.weight"]);
        Assert.Equal((TowerSection.Stem, -1), sections["visual.trunk.pos_embed"]);
        Assert.Equal((TowerSection.Block, 1), sections[eva ? "visual.trunk.blocks.1.attn.q_proj.bias" : "visual.trunk.blocks.1.attn.qkv.weight"]);
        Assert.Equal((TowerSection.Head, -1), sections["visual.trunk.norm.weight"]);
        if (eva)
        {
            Assert.Equal((TowerSection.Stem, -1), sections["visual.trunk.cls_token"]);
            Assert.Equal((TowerSection.Head, -1), sections["visual.trunk.head.weight"]);
        }
        else
        {
            Assert.Equal((TowerSection.Head, -1), sections["visual.trunk.attn_pool.latent"]);
            Assert.Equal((TowerSection.Head, -1), sections["visual.trunk.attn_pool.mlp.fc2.bias"]);
        }
        Assert.Equal((TowerSection.Stem, -1), sections["text.token_embedding.weight"]);
        Assert.Equal((TowerSection.Block, 0), sections["text.transformer.resblocks.0.ln_1.weight"]);
        Assert.Equal((TowerSection.Head, -1), sections[eva ? "text.text_projection" : "text.text_projection.bias"]);
        Assert.Equal(2, ClipTowers.BlockCount(model, ClipTower.Image));
        Assert.Equal(2, ClipTowers.BlockCount(model, ClipTower.Text));

        // EVA-CLIP's layer decay reads the same description: depth 0 for the stem, i + 1 for block i, L + 1 for the head.
        var scales = LayerwiseLearningRates.Scales(model, sections.Keys, imageRatio: 1, imageDecay: 0.5, textRatio: 1, textDecay: 0.5);
        Assert.Equal(0.125, scales["visual.trunk.patch_embed.proj.bias"]);
        Assert.Equal(0.5, scales["visual.trunk.blocks.1.norm2.weight"]);
        Assert.Equal(1.0, scales["visual.trunk.norm.bias"]);
        Assert.Equal(0.25, scales["text.transformer.resblocks.0.mlp.c_fc.weight"]);
    }

    /// <summary>An image tower given to the model that does not describe itself counts as one stem: no blocks to leave unlocked.</summary>
    [Fact]
    public void ACustomTowerWithoutALayoutIsAllStem()
    {
        var config = FamilyFixture.ConfigOf("siglip-tiny");
        using var model = new ClipModel(config, visual: nn.Sequential(("flatten", nn.Flatten()), ("proj", nn.Linear(3 * 32 * 32, 64))));
        Assert.Equal((TowerSection.Stem, -1), ClipTowers.SectionOf("visual.proj.weight", model));
        Assert.Equal(0, ClipTowers.BlockCount(model, ClipTower.Image));
        var ex = Assert.Throws<ArgumentOutOfRangeException>(() => TowerLocking.Apply(model, TowerLock.AllButLast(1), null));
        Assert.Contains("it has 0", ex.Message);
    }

    [Theory]
    [MemberData(nameof(Towers))]
    public void AllButLastLocksTheStemAndEarlierBlocksOfTheTimmTrunk(string name)
    {
        using var model = NewModel(name);
        var locked = TowerLocking.Apply(model, TowerLock.AllButLast(1), TowerLock.Full).ToHashSet();
        var lockedNames = model.named_parameters().Where(p => locked.Contains(p.parameter)).Select(p => p.name).ToHashSet();
        try
        {
            foreach (var (parameterName, _) in model.named_parameters())
            {
                bool expectLocked = parameterName.StartsWith("text.", StringComparison.Ordinal)
                    || parameterName.StartsWith("visual.trunk.patch_embed.", StringComparison.Ordinal)
                    || parameterName is "visual.trunk.pos_embed" or "visual.trunk.cls_token"
                    || parameterName.StartsWith("visual.trunk.blocks.0.", StringComparison.Ordinal);
                Assert.True(expectLocked == lockedNames.Contains(parameterName), $"{parameterName}: locked {lockedNames.Contains(parameterName)}");
            }
            Assert.True(FrozenParts.Of(model).LocksWholeTower(model, ClipTower.Text));
        }
        finally
        {
            foreach (var p in locked) p.requires_grad = true;
        }
    }

    /// <summary>
    /// Checkpointing recomputes each block in the backward pass (EVA02's blocks with their rotary tables as the second
    /// input): the same gradients, and two recomputations per tower of two blocks.
    /// </summary>
    [Theory]
    [MemberData(nameof(Towers))]
    public void ActivationCheckpointingGivesTheSameGradients(string name)
    {
        Dictionary<string, Tensor> Gradients(bool checkpoint)
        {
            using var model = NewModel(name);
            model.train();
            model.CheckpointActivations(checkpoint, checkpoint);
            using var pixels = Pixels(4, 3);
            using var tokens = Tokens(4, 4);
            using var result = model.forward(pixels, tokens);
            using var logits = result.LogitsPerImage();
            using var loss = logits.square().mean();
            loss.backward();
            return model.named_parameters().ToDictionary(p => p.name, p => p.parameter.grad!.detach().clone());
        }
        var plain = Gradients(false);
        long before = ActivationCheckpoint.Recomputations;
        var checkpointed = Gradients(true);
        Assert.Equal(4, ActivationCheckpoint.Recomputations - before);
        // The same kernels on the same data: recomputation reruns identical arithmetic, but the backward pass may sum
        // gradient contributions in another order, so allow float32 rounding of values of order 1 (1e-6).
        foreach (var (parameterName, gradient) in plain)
            TensorAssert.Close(checkpointed[parameterName], gradient, 1e-6, 1e-5, parameterName);
    }

    /// <summary>
    /// Patch selection (FLIP's explicit keep indices) keeps each patch's position: all patches in a shuffled order encode
    /// to the pooled embedding of the unshuffled image (EVA02's rotary tables travel with their patches; SigLIP's attention
    /// pool ignores order), and a subset gives that many tokens.
    /// </summary>
    [Theory]
    [MemberData(nameof(Towers))]
    public void KeptPatchesCarryTheirPositions(string name)
    {
        using var model = NewModel(name);
        model.eval();
        using var _ = no_grad();
        var tower = (ITokenImageTower)model.Visual;
        Assert.Equal(16, tower.PatchCount);
        using var pixels = Pixels(3, 5);
        // Unprojected tokens: the final norm's output, of order 1 (EVA02's head is scaled by 0.001 at initialisation).
        using var full = tower.ForwardTokens(pixels, projectTokens: false);
        using var shuffled = stack(Enumerable.Range(0, 3).Select(i => randperm(16, generator: new Generator((ulong)(10 + i)))).ToArray());
        using var permuted = tower.ForwardTokens(pixels, shuffled, projectTokens: false);
        // Attention sums the same terms in another order: float32 rounding, 1e-5 of the values' size.
        double size = full.Pooled.abs().max().item<float>();
        TensorAssert.Close(permuted.Pooled, full.Pooled, 1e-5 * size, 1e-5, "pooled embedding of shuffled patches");
        using var order = shuffled.unsqueeze(-1).expand(3, 16, full.Tokens.shape[2]);
        using var fullInShuffledOrder = full.Tokens.gather(1, order);
        TensorAssert.Close(permuted.Tokens, fullInShuffledOrder, 1e-5, 1e-5, "tokens of shuffled patches");

        using var subset = tower.ForwardTokens(pixels, shuffled.narrow(1, 0, 6));
        Assert.Equal(new long[] { 3, 6, model.Config.EmbedDim }, subset.Tokens.shape);
        // Relative to the embedding's size (EVA02's freshly initialised head is scaled by 0.001): dropping 10 of 16
        // patches changes it by a sizeable fraction, far above the 1e-5 agreement of the permuted encoding.
        double difference = (subset.Pooled - full.Pooled).abs().max().item<float>();
        Assert.True(difference > 1e-2 * size, $"a subset of the patches must change the embedding ({difference:E2} of {size:E2})");
    }

    [Theory]
    [InlineData("eva02-tiny")]
    [InlineData("siglip-tiny")]
    public void TrainModePatchDropoutKeepsTheConfiguredShare(string name)
    {
        using var model = NewModel(name, patchDropout: 0.5);
        var tower = (ITokenImageTower)model.Visual;
        using var pixels = Pixels(2, 6);
        model.train();
        using (var dropped = tower.ForwardTokens(pixels))
            Assert.Equal(8, dropped.Tokens.shape[1]);
        model.eval();
        using (var all = tower.ForwardTokens(pixels))
            Assert.Equal(16, all.Tokens.shape[1]);
    }

    /// <summary>FLIP and EVA-CLIP (patch dropout, layer decay, LAMB) train the new towers: finite losses that fall on a repeated batch.</summary>
    [Theory]
    [InlineData("eva02-tiny", "flip")]
    [InlineData("siglip-tiny", "flip")]
    [InlineData("eva02-tiny", "eva-clip")]
    public void PatchDroppingObjectivesTrainTheTowers(string name, string objectiveName)
    {
        using var model = NewModel(name);
        ClipObjective objective = objectiveName == "flip"
            ? new FlipObjective(new FlipOptions { MaskRatio = 0.5 })
            : new EvaClipObjective(new EvaClipOptions { PatchDropout = 0.5 });
        var options = new ClipTrainerOptions { LearningRate = 2e-3, WarmupSteps = 0 };
        var losses = new List<double>();
        using (var trainer = new ClipTrainer(model, objective, options, totalSteps: 8))
        {
            for (int i = 0; i < 8; i++)
            {
                using var pixels = Pixels(8, 7);
                using var tokens = Tokens(8, 8);
                using var batch = new TrainingBatch(pixels, tokens);
                var step = trainer.Step(batch);
                Assert.False(step.Skipped);
                losses.Add(step.Loss);
            }
        }
        output.WriteLine($"{name} {objectiveName}: loss {losses[0]:F4} → {losses[^1]:F4}");
        Assert.All(losses, l => Assert.True(double.IsFinite(l)));
        // One batch seen 8 times (other random patches each time): the loss must fall clearly.
        Assert.True(losses.TakeLast(2).Average() < losses.Take(2).Average() - 0.05, $"loss {losses[0]:F4} → {losses[^1]:F4}");
    }

    /// <summary>
    /// timm's truncated-normal initialisation (TorchSharp's own trunc_normal_ fills every element with the standard
    /// deviation): the spread of N(0, σ²) inside the bounds, nothing outside.
    /// </summary>
    [Fact]
    public void TruncatedNormalDrawsTheTruncatedDistribution()
    {
        manual_seed(3);
        using var narrow = TruncatedNormal.Fill(empty(200_000), 0.02);
        // Bounds ±2 are 100σ away: an untruncated N(0, 0.02²). 200,000 draws estimate σ to ±0.2 % (1/√(2n) ≈ 0.16 %).
        Assert.InRange(narrow.std().item<float>(), 0.0198, 0.0202);
        Assert.InRange(narrow.mean().item<float>(), -2e-4, 2e-4);
        using var unit = TruncatedNormal.Fill(empty(200_000), 1.0);
        // N(0, 1) truncated to ±2: standard deviation 0.8796, every value inside, some near the bounds.
        Assert.InRange(unit.std().item<float>(), 0.874, 0.885);
        Assert.InRange(unit.abs().max().item<float>(), 1.99, 2.0);
    }

    /// <summary>bf16 inference (LayerNorms, logit scale and bias kept in fp32) stays close to fp32.</summary>
    [Theory]
    [MemberData(nameof(Towers))]
    public void BFloat16InferenceStaysCloseToFloat32(string name)
    {
        using var model = NewModel(name);
        model.eval();
        using var _ = no_grad();
        using var pixels = Pixels(4, 9);
        using var tokens = Tokens(4, 10);
        using var image = model.EncodeImage(pixels, normalize: true);
        using var text = model.EncodeText(tokens, normalize: true);
        using var copy = model.Copy().ToInferenceDType(ScalarType.BFloat16);
        using var image16 = copy.EncodeImage(pixels, normalize: true);
        using var text16 = copy.EncodeText(tokens, normalize: true);
        double imageCosine = (image * image16).sum(-1).min().item<float>(), textCosine = (text * text16).sum(-1).min().item<float>();
        output.WriteLine($"{name}: bf16 cosine to fp32 ≥ {imageCosine:F5} (image), {textCosine:F5} (text)");
        // bf16 keeps 8 bits of mantissa (relative rounding 4e-3 per operation) through two blocks of width 64: the
        // embeddings stay within a few tenths of a degree; a wrong cast or a bf16 LayerNorm statistic would fall far below.
        Assert.True(imageCosine > 0.999 && textCosine > 0.999, $"cosines {imageCosine}, {textCosine}");
        Assert.Equal(ScalarType.Float32, copy.LogitBias?.dtype ?? ScalarType.Float32);
    }

    /// <summary>ONNX export of both encoders, run by ONNX Runtime, against TorchSharp fp32.</summary>
    [Theory]
    [MemberData(nameof(Towers))]
    public void OnnxExportMatchesTorchSharp(string name)
    {
        using var model = NewModel(name);
        var tokenizer = FamilyHub.Tokenizer.Value;
        var bundle = new ClipModelBundle(model, tokenizer);
        using var temp = new TempDirectory();
        var manifest = bundle.ExportOnnx(temp.File("onnx"));
        Assert.Equal(name.StartsWith("siglip", StringComparison.Ordinal), manifest.LogitBias is not null);

        model.eval();
        using var _ = no_grad();
        using var pixels = Pixels(5, 11);
        using var tokens = Tokens(5, 12);
        using var expectedImage = model.EncodeImage(pixels, normalize: true);
        using var expectedText = model.EncodeText(tokens, normalize: true);
        using var imageSession = OrtRunner.Open(Path.Combine(temp.File("onnx"), manifest.ImageEncoder));
        using var textSession = OrtRunner.Open(Path.Combine(temp.File("onnx"), manifest.TextEncoder));
        using var image = OrtRunner.Run(imageSession, "pixel_values", pixels);
        using var text = OrtRunner.Run(textSession, "input_ids", tokens);
        // Two fp32 implementations of the same graph (ONNX Runtime fuses and reorders): 1e-4 + 1e-4·|x|, as the other
        // export parity tests; measured ≤ ~1e-6 on these unit-norm embeddings.
        double e1 = TensorAssert.Close(image, expectedImage, 1e-4, 1e-4, "image embeddings");
        double e2 = TensorAssert.Close(text, expectedText, 1e-4, 1e-4, "text embeddings");
        output.WriteLine($"{name}: ONNX Runtime vs TorchSharp max |Δ| image {e1:E2}, text {e2:E2}");
    }
}
