using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text.Json;
using Microsoft.ML.Clip.Modeling;
using Xunit;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace Microsoft.ML.Clip.Tests.Training;

/// <summary>
/// A fresh model's per-tensor initialization statistics against open_clip's (fixtures/openclip/training/init_stats.json:
/// mean, standard deviation and largest magnitude of every tensor of a freshly initialized open_clip CLIP, averaged
/// over seeds 0–4). Training from scratch depends on these scales (embedding and projection std, attention and MLP
/// init, the logit scale's ln(1/0.07)).
/// </summary>
[Trait("Category", "Fixtures")]
public sealed class InitializationStatisticsTests(ITestOutputHelper output)
{
    private const int Seeds = 5;

    // Averaged over 5 seeds, the std of a tensor of n ≥ 256 samples has a sampling error of about 1/√(2·5n) ≤ 2 %;
    // 10 % leaves room for that and catches a wrong init scheme (the usual mistakes are factors: √2, width^-0.5
    // instead of (2·layers)^-0.5, ...). Means of both sides are random: their difference has a sampling error of
    // std·√(2/(5n)), allowed 4.5 times (a false alarm for one tensor about once in 150,000 draws); a mean shifted by a
    // wrong init (ones instead of zeros, a bias) is hundreds of those. The largest magnitude is a tail statistic and
    // gets 30 %.
    private const double StdTolerance = 0.10, MeanSigmas = 4.5, AbsMaxTolerance = 0.30;

    [FixtureFact]
    public void FreshModelMatchesOpenClipsInitialization()
    {
        using var json = JsonDocument.Parse(File.ReadAllText(Fixtures.Path("openclip", "training", "init_stats.json")));
        var config = ClipConfig.FromOpenClipJson(json.RootElement.GetProperty("config").GetRawText());
        var sums = new Dictionary<string, double[]>();
        for (int seed = 0; seed < Seeds; seed++)
        {
            using var scope = NewDisposeScope();
            manual_seed(seed);
            using var model = new ClipModel(config);
            foreach (var (name, tensor) in model.state_dict())
            {
                using var values = tensor.detach().to(ScalarType.Float64);
                var stats = new[] { values.mean().item<double>(), values.numel() > 1 ? values.std().item<double>() : 0, values.abs().max().item<double>() };
                var sum = sums.TryGetValue(name, out var s) ? s : sums[name] = new double[3];
                for (int i = 0; i < 3; i++) sum[i] += stats[i] / Seeds;
            }
        }

        var failures = new List<string>();
        int compared = 0;
        foreach (var expected in json.RootElement.GetProperty("parameters").EnumerateObject())
        {
            Assert.True(sums.TryGetValue(expected.Name, out var actual), $"the model has no tensor '{expected.Name}'");
            double mean = expected.Value.GetProperty("mean").GetDouble(), std = expected.Value.GetProperty("std").GetDouble();
            double absMax = expected.Value.GetProperty("absmax").GetDouble();
            long n = expected.Value.GetProperty("shape").EnumerateArray().Aggregate(1L, (p, d) => p * d.GetInt64());
            compared++;
            if (Math.Abs(actual[0] - mean) > MeanSigmas * std * Math.Sqrt(2.0 / (Seeds * n)) + 1e-6 * Math.Max(1, Math.Abs(mean)))
                failures.Add($"{expected.Name}: mean {actual[0]:G4}, open_clip {mean:G4}");
            if (Math.Abs(actual[1] - std) > StdTolerance * std + 1e-9)
                failures.Add($"{expected.Name}: std {actual[1]:G4}, open_clip {std:G4}");
            if (Math.Abs(actual[2] - absMax) > AbsMaxTolerance * absMax + 1e-9)
                failures.Add($"{expected.Name}: max |x| {actual[2]:G4}, open_clip {absMax:G4}");
        }
        output.WriteLine($"{compared} tensors compared; {failures.Count} off");
        foreach (var failure in failures) output.WriteLine(failure);
        Assert.True(compared > 50, $"only {compared} tensors in the fixture");
        Assert.True(failures.Count == 0, string.Join(Environment.NewLine, failures));
    }
}
