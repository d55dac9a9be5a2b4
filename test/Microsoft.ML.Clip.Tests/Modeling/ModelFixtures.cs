using System;
using System.Collections.Generic;
using System.IO;
using Microsoft.ML.Clip.Modeling;
using Microsoft.ML.Clip.Weights;
using static TorchSharp.torch;

namespace Microsoft.ML.Clip.Tests.Modeling;

/// <summary>Loads the open_clip tiny-model fixtures (config, weights, reference inputs and outputs).</summary>
internal sealed class TinyFixture : IDisposable
{
    public TinyFixture(string name)
    {
        Name = name;
        Config = ClipConfig.FromOpenClipJson(File.ReadAllText(Fixtures.Path("openclip", name, "config.json")));
        WeightsPath = Fixtures.Path("openclip", name, "weights.safetensors");
        Weights = SafeTensors.Load(WeightsPath);
        IO = SafeTensors.Load(Fixtures.Path("openclip", name, "io.safetensors"));
    }

    public string Name { get; }
    public ClipConfig Config { get; }
    public string WeightsPath { get; }
    public Dictionary<string, Tensor> Weights { get; }
    public Dictionary<string, Tensor> IO { get; }

    public Tensor Pixels => IO["input.pixels"];
    public Tensor Tokens => IO["input.tokens"];

    /// <summary>A model with the fixture weights loaded through <see cref="ClipWeights.Load(ClipModel, string)"/>.</summary>
    public ClipModel LoadModel()
    {
        var model = new ClipModel(Config);
        ClipWeights.Load(model, WeightsPath);
        return model;
    }

    public void Dispose()
    {
        foreach (var t in Weights.Values) t.Dispose();
        foreach (var t in IO.Values) t.Dispose();
    }
}
