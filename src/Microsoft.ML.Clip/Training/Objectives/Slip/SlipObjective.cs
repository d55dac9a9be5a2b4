using System;
using System.Collections.Generic;
using System.Linq;
using Microsoft.ML.Clip.Modeling;
using Microsoft.ML.Clip.Modeling.Losses;
using Microsoft.ML.Clip.Torch;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Microsoft.ML.Clip.Training.Objectives.Slip;

/// <summary>
/// SLIP (Mu et al., 2022): CLIP's contrastive loss plus SimCLR's self-supervised loss on two augmented views
/// of each image, passed through the image tower and a projection head (Linear → LayerNorm → ReLU → Linear;
/// LayerNorm rather than BatchNorm, so the head behaves the same with any micro-batch size):
/// <c>L = L_CLIP + w · NT-Xent(z₁, z₂; τ = 0.1)</c>. The CLIP term sees the images as given; only the
/// self-supervised views are augmented. The head is trained with the model and saved in checkpoints; it is
/// not part of the fitted model (scoring needs only the towers).
/// </summary>
public sealed class SlipObjective : ClipObjective
{
    private readonly SlipOptions _options;
    private readonly ViewAugmenter _augmenter;
    private Sequential? _head;
    private long _step;

    /// <summary>SLIP with <paramref name="options"/> (null: the paper's settings); throws when they are out of range.</summary>
    public SlipObjective(SlipOptions? options = null)
    {
        _options = options ?? new SlipOptions();
        _options.Validate();
        _augmenter = new ViewAugmenter(_options.MinCropScale, _options.PixelMean, _options.PixelStd);
    }

    /// <inheritdoc/>
    public override string Name => "slip";

    /// <summary>The validated settings the objective was created with.</summary>
    public SlipOptions Options => _options;

    /// <inheritdoc/>
    public override void Initialize(ClipModel model, Device device)
    {
        int embed = model.Config.EmbedDim;
        using var scope = NewDisposeScope();
        _head = nn.Sequential(
            ("0", nn.Linear(embed, _options.HeadHiddenSize)),
            ("1", nn.LayerNorm(_options.HeadHiddenSize)),
            ("2", nn.ReLU()),
            ("3", nn.Linear(_options.HeadHiddenSize, _options.HeadOutputSize)));
        _head.to(device);
        foreach (var p in _head.parameters()) p.DetachFromDisposeScope();
    }

    /// <inheritdoc/>
    public override IEnumerable<(string Name, Parameter Parameter)> ExtraParameters() =>
        Head.named_parameters().Select(p => ($"slip_head.{p.name}", p.parameter));

    private Sequential Head => _head ?? throw new InvalidOperationException("SlipObjective.Initialize was not called: the head does not exist yet.");

    /// <summary>Encodes the pairs for CLIP and two augmented views of the images for the self-supervised term.</summary>
    public override ObjectiveFeatures Encode(ClipModel model, TrainingBatch batch)
    {
        using var scope = NewDisposeScope();
        // One generator per step, derived from the seed and the step, so a resumed run draws the same views.
        var random = new Random(HashCode.Combine(_options.Seed, _step));
        var features = new Dictionary<string, Tensor>
        {
            ["image"] = batch.ImageFeatures(model),
            ["text"] = batch.TextFeatures(model),
        };
        if (_options.SelfSupervisedWeight > 0)
        {
            var view1 = _augmenter.View(batch.Pixels, random);
            var view2 = _augmenter.View(batch.Pixels, random);
            features["z1"] = Head.forward(model.EncodeImage(view1));
            features["z2"] = Head.forward(model.EncodeImage(view2));
        }
        foreach (var t in features.Values) t.MoveToOuterDisposeScope();
        return new ObjectiveFeatures(features);
    }

    /// <inheritdoc/>
    public override Tensor Loss(ClipModel model, ObjectiveFeatures features, bool trainModelLevelParameters)
    {
        using var scope = NewDisposeScope();
        var logitScale = ModelLevel(model.LogitScale, trainModelLevelParameters);
        var loss = ClipLoss.Compute(features["image"], features["text"], logitScale.exp());
        if (_options.SelfSupervisedWeight > 0)
            loss = ScalarSafe.Add(loss, ScalarSafe.Mul(SimClrLoss.Compute(features["z1"], features["z2"], _options.Temperature), _options.SelfSupervisedWeight));
        return loss.MoveToOuterDisposeScope();
    }

    /// <inheritdoc/>
    public override void AfterStep(ClipModel model, ObjectiveFeatures? batchFeatures) => _step++;

    /// <inheritdoc/>
    public override IReadOnlyDictionary<string, Tensor> StateDict()
    {
        var state = Head.state_dict().ToDictionary(p => $"head.{p.Key}", p => p.Value);
        state["step"] = tensor(_step);
        return state;
    }

    /// <inheritdoc/>
    public override void LoadStateDict(IReadOnlyDictionary<string, Tensor> state)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        foreach (var (name, tensor) in Head.state_dict())
        {
            if (!state.TryGetValue($"head.{name}", out var saved) || !saved.shape.SequenceEqual(tensor.shape))
                throw new ArgumentException($"The checkpoint has no SLIP head tensor 'head.{name}' of shape [{string.Join(", ", tensor.shape)}].");
            tensor.copy_(saved);
        }
        if (state.TryGetValue("step", out var step)) _step = step.item<long>();
    }
}
