using System;
using System.Collections.Generic;
using System.Linq;
using Microsoft.ML.Clip.Modeling;
using Microsoft.ML.Clip.Torch;
using Microsoft.ML.Clip.Training;
using Microsoft.ML.Clip.Training.Objectives;
using Microsoft.ML.Clip.Training.Objectives.MaskClip;
using TorchSharp;
using Xunit;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace Microsoft.ML.Clip.Tests.Objectives;

public class MaskClipTests(ITestOutputHelper output)
{
    private static readonly ClipConfig Micro = WenLanTests.Micro;

    private static float[] Flat(Tensor t) => t.to(ScalarType.Float32).contiguous().data<float>().ToArray();

    private static Tensor Random(long[] shape, int seed) => randn(shape, generator: new Generator((ulong)seed));

    [Fact]
    public void DistillationMatchesNaiveLoop()
    {
        using var scope = NewDisposeScope();
        const int n = 2, t = 3, k = 5;
        const double ts = 0.1, tt = 0.04;
        var student = Random([n, t, k], 1);
        var teacher = Random([n, t, k], 2);
        var center = Random([k], 3);
        var actual = Flat(MaskClipLosses.DistillationPerSample(student, teacher, center, ts, tt));
        float[] s = Flat(student), te = Flat(teacher), c = Flat(center);
        for (int i = 0; i < n; i++)
        {
            double expected = 0;
            for (int j = 0; j < t; j++)
            {
                int o = (i * t + j) * k;
                var teacherLogit = Enumerable.Range(0, k).Select(q => (te[o + q] - c[q]) / tt).ToArray();
                var studentLogit = Enumerable.Range(0, k).Select(q => s[o + q] / ts).ToArray();
                double tz = teacherLogit.Max(), sz = studentLogit.Max();
                double tSum = teacherLogit.Sum(v => Math.Exp(v - tz));
                double sLog = sz + Math.Log(studentLogit.Sum(v => Math.Exp(v - sz)));
                for (int q = 0; q < k; q++)
                    expected -= Math.Exp(teacherLogit[q] - tz) / tSum * (studentLogit[q] - sLog);
            }
            output.WriteLine($"image {i}: distillation {actual[i]:F6}, naive {expected:F6}");
            // Temperatures 0.1 and 0.04 turn unit-Gaussian logits into values up to ~30 and ~150, where fp32 keeps
            // ~6e-8 × 150 ≈ 1e-5 absolute; the cross-entropy sums 3 tokens × 5 classes of p·logit terms of that
            // size: ≤ ~1e-4. Swapped temperatures or a centre with the wrong sign move it by far more than 0.01.
            Approx.Equal(expected, actual[i], atol: 1e-4, rtol: 0, $"distillation of image {i}");
        }
    }

    [Fact]
    public void LanguageModelMatchesNaiveLoop()
    {
        using var scope = NewDisposeScope();
        const int n = 2, l = 4, v = 6;
        var logits = Random([n, l, v], 4);
        var targets = tensor(new long[] { 1, 2, 3, 5, 0, 4, 4, 5 }, [n, l]);
        var mask = tensor(new[] { false, true, true, false, false, false, true, false }, [n, l]);
        var (sums, counts) = MaskClipLosses.LanguageModelPerSample(logits, targets, mask);
        float[] z = Flat(logits);
        long[] y = targets.data<long>().ToArray();
        bool[] m = mask.data<bool>().ToArray();
        for (int i = 0; i < n; i++)
        {
            double expected = 0;
            int count = 0;
            for (int j = 0; j < l; j++)
            {
                if (!m[i * l + j]) continue;
                var row = Enumerable.Range(0, v).Select(q => (double)z[(i * l + j) * v + q]).ToArray();
                double max = row.Max();
                expected += max + Math.Log(row.Sum(r => Math.Exp(r - max))) - row[y[i * l + j]];
                count++;
            }
            // At most 3 masked positions of log-softmax over 6 unit-Gaussian logits (values ~2): fp32 rounding is a few
            // ulps of ~5 (4.8e-7 each); 1e-5. A wrong target or a counted unmasked position moves the sum by > 0.1.
            Approx.Equal(expected, sums[i].item<float>(), atol: 1e-5, rtol: 0, $"language-model sum of caption {i}");
            Assert.Equal(count, counts[i].item<float>());
        }
    }

    [Fact]
    public void TextMaskingReplacesOnlyCaptionTokens()
    {
        using var scope = NewDisposeScope();
        const int n = 200, l = 16, vocab = 50;
        var generator = new Generator(5);
        var tokens = randint(1, vocab - 2, [n, l], generator: generator);
        var rows = Enumerable.Range(0, n).Select(i => 3 + i % 12).ToArray(); // end-of-text position per row
        for (int i = 0; i < n; i++)
        {
            tokens[i, 0] = vocab - 2;
            tokens[i, rows[i]] = vocab - 1;
            for (int j = rows[i] + 1; j < l; j++) tokens[i, j] = 0;
        }
        var (masked, mask) = MaskClipLosses.MaskText(tokens, 0.15, vocab - 2, new Generator(6));
        long[] before = tokens.data<long>().ToArray(), after = masked.data<long>().ToArray();
        bool[] m = mask.data<bool>().ToArray();
        int candidates = 0, hits = 0;
        for (int i = 0; i < n; i++)
            for (int j = 0; j < l; j++)
            {
                int p = i * l + j;
                bool candidate = j > 0 && j < rows[i];
                candidates += candidate ? 1 : 0;
                if (m[p])
                {
                    Assert.True(candidate, $"special or padding token masked at row {i}, position {j}");
                    Assert.Equal(vocab - 2, after[p]);
                    hits++;
                }
                else Assert.Equal(before[p], after[p]);
            }
        double rate = (double)hits / candidates;
        output.WriteLine($"masked {hits}/{candidates} caption tokens = {rate:P1}");
        Assert.InRange(rate, 0.12, 0.18);
        // The end-of-text token stays the largest id, so the masked caption still pools at its end.
        Assert.True(masked.argmax(-1).equal(tokens.argmax(-1)).all().item<bool>());
    }

    [Fact]
    public void LossIsTheWeightedSumOfItsTerms()
    {
        using var scope = NewDisposeScope();
        manual_seed(7);
        using var model = new ClipModel(Micro);
        using (no_grad()) model.LogitScale.fill_(2.0);
        var options = new MaskClipOptions { Prototypes = 16, ContrastiveWeight = 0.5, DistillationWeight = 2, LanguageModelWeight = 0.25 };
        using var objective = new MaskClipObjective(options);
        objective.Initialize(model, model.Device);
        var image = nn.functional.normalize(Random([3, 8], 8), dim: 1);
        var text = nn.functional.normalize(Random([3, 8], 9), dim: 1);
        float[] ds = { 1.5f, 2.5f, 0.5f }, dc = { 4, 4, 4 }, ms = { 3f, 0f, 1f }, mc = { 2, 0, 1 };
        using var features = new ObjectiveFeatures(new Dictionary<string, Tensor>
        {
            ["image"] = image, ["text"] = text,
            ["distill_sum"] = tensor(ds), ["distill_count"] = tensor(dc), ["teacher_mean"] = zeros(3, 16),
            ["mlm_sum"] = tensor(ms), ["mlm_count"] = tensor(mc),
        });
        double actual = objective.Loss(model, features, true).item<float>();

        // CLIP: mean over both directions of −log softmax(s·I·Tᵀ) on the diagonal.
        float[] a = Flat(image), b = Flat(text);
        double scale = Math.Exp(2.0), clip = 0;
        double Dot(int i, int j) => Enumerable.Range(0, 8).Sum(c => (double)a[i * 8 + c] * b[j * 8 + c]);
        for (int i = 0; i < 3; i++)
        {
            var row = Enumerable.Range(0, 3).Select(j => scale * Dot(i, j)).ToArray();
            var column = Enumerable.Range(0, 3).Select(j => scale * Dot(j, i)).ToArray();
            clip += Math.Log(row.Sum(Math.Exp)) - row[i] + Math.Log(column.Sum(Math.Exp)) - column[i];
        }
        clip /= 2 * 3;
        double expected = 0.5 * clip + 2 * ds.Sum() / dc.Sum() + 0.25 * ms.Sum() / mc.Sum();
        output.WriteLine($"loss {actual:F6}, naive {expected:F6} (clip term {clip:F6})");
        // The contrastive term is 3×3 logits of 8-d fp32 dots times e² ≈ 7.4 (rounding ≤ 8 × 6e-8 × 7.4 ≈ 4e-6), the
        // other terms are ratios of given fp32 sums: 2e-5 bounds the total (~5); a wrong weight moves it by > 0.1.
        Approx.Equal(expected, actual, atol: 2e-5, rtol: 0, "MaskCLIP loss as the weighted sum of its terms");
    }

    [Fact]
    public void OnlyTheStudentAndHeadsReceiveGradients()
    {
        using var scope = NewDisposeScope();
        manual_seed(10);
        using var model = new ClipModel(Micro);
        using var objective = new MaskClipObjective(new MaskClipOptions { Prototypes = 16, TextMaskProbability = 0.5 });
        objective.Initialize(model, model.Device);
        using var batch = WenLanTests.RandomBatch(4, 11);
        using var features = objective.Encode(model, batch);
        Assert.Equal(16 / 4, features["distill_count"][0].item<float>()); // 16 patches, 75% masked: 4 visible
        Assert.True(features["mlm_count"].sum().item<float>() > 0);
        var loss = objective.Loss(model, features, true);
        Assert.True(double.IsFinite(loss.item<float>()));
        loss.backward();
        Assert.All(objective.Teacher.parameters(), p => { Assert.False(p.requires_grad); Assert.Null(p.grad); });
        Assert.All(objective.TeacherHead.parameters(), p => { Assert.False(p.requires_grad); Assert.Null(p.grad); });
        Assert.All(objective.ExtraParameters(), p => Assert.NotNull(p.Parameter.grad));
        var grads = model.named_parameters().ToDictionary(p => p.name, p => p.parameter.grad);
        Assert.NotNull(grads["visual.conv1.weight"]);
        Assert.NotNull(grads["token_embedding.weight"]);
    }

    [Fact]
    public void AfterStepMovesTeacherAndCentre()
    {
        using var scope = NewDisposeScope();
        manual_seed(12);
        using var model = new ClipModel(Micro);
        const double m = 0.9;
        using var objective = new MaskClipObjective(new MaskClipOptions { Prototypes = 16, TeacherMomentum = m, CenterMomentum = 0.8 });
        objective.Initialize(model, model.Device);
        var teacherBefore = objective.Teacher.named_parameters().ToDictionary(p => p.name, p => p.parameter.detach().clone());
        using (no_grad()) foreach (var p in model.parameters()) ScalarSafe.AddInPlace(p, 0.25);
        using var batch = WenLanTests.RandomBatch(4, 13);
        using var features = objective.Encode(model, batch);
        var batchMean = features["teacher_mean"].mean([0]).clone();
        objective.Loss(model, features, true);
        objective.AfterStep(model, null);
        var student = model.Visual.named_parameters().ToDictionary(p => p.name, p => p.parameter);
        foreach (var (name, t) in objective.Teacher.named_parameters())
            Assert.True(t.allclose(teacherBefore[name] * m + student[name].detach() * (1 - m), rtol: 1e-5, atol: 1e-6), $"EMA of {name}");
        Assert.True(objective.Center.allclose(batchMean * 0.2, rtol: 1e-5, atol: 1e-6)); // from a zero centre
    }

    [Fact]
    public void StateDictRestoresTeacherHeadsAndCentre()
    {
        manual_seed(14);
        using var model = new ClipModel(Micro);
        using var objective = new MaskClipObjective(new MaskClipOptions { Prototypes = 16, TeacherMomentum = 0.5 });
        using var trainer = new ClipTrainer(model, objective, new ClipTrainerOptions { LearningRate = 1e-2, WarmupSteps = 0 }, 10);
        using var batch = WenLanTests.RandomBatch(4, 15);
        for (int i = 0; i < 2; i++) trainer.Step(batch);
        var saved = objective.StateDict().ToDictionary(p => p.Key, p => p.Value.clone());
        Assert.Contains("teacher.conv1.weight", saved.Keys);
        Assert.Contains("head.proj.weight", saved.Keys);
        Assert.Contains("text_head.bias", saved.Keys);
        using var restored = new MaskClipObjective(new MaskClipOptions { Prototypes = 16, TeacherMomentum = 0.5 });
        restored.Initialize(model, model.Device);
        restored.LoadStateDict(saved);
        foreach (var (name, tensor) in objective.StateDict())
            Assert.True(tensor.equal(restored.StateDict()[name]).all().item<bool>(), $"{name} differs after restore");
    }

    [Trait("Category", "Slow")]
    [Fact]
    public void PretrainsOnShapesAndReloadsInAnotherProcess()
    {
        var run = ObjectivePipelineCheck.Run(new MaskClipObjective(new MaskClipOptions { Prototypes = 64, TeacherMomentum = 0.99 }), output);
        Assert.True(run.LastLoss < 0.8 * run.FirstLoss, $"loss {run.FirstLoss:F3} -> {run.LastLoss:F3}");
        Assert.True(run.MeanRecallAt5 > 3 * run.ChanceRecallAt5, $"validation R@5 {run.MeanRecallAt5:F3} (chance {run.ChanceRecallAt5:F3})");
    }
}
