using System;
using System.Collections.Generic;
using System.Linq;
using Microsoft.ML.Clip.Modeling;
using Microsoft.ML.Clip.Torch;
using TorchSharp.Modules;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace Microsoft.ML.Clip.Training.Objectives.Flip;

/// <summary>
/// FLIP (Li et al., 2023, "Scaling Language-Image Pre-training via Masking"): during training each image keeps
/// only a random subset of its patch tokens (a different subset per sample, drawn after the positional
/// embedding and before <c>ln_pre</c>; the class token is always kept), so the image tower computes on
/// <c>(1 − ratio)</c> of the tokens; the loss is that of the wrapped objective (CLIP's contrastive loss by
/// default). Nothing is masked at inference; optionally the final steps train unmasked ("unmasked tuning").
/// </summary>
/// <remarks>
/// <para>The kept patches are drawn on the model's device from a counter-based hash of the seed and the number of
/// draws so far (<see cref="DrawKeepIndices"/>): the same masks on every device, and a resumed run (on the same or
/// another device) draws the same masks as an uninterrupted one, since <see cref="StateDict"/> holds the counter.</para>
/// <para>With gradient accumulation (<see cref="ClipTrainerOptions.MicroBatchSize"/>) the trainer encodes each
/// micro-batch twice (for the whole-batch loss without its graph, then again to back-propagate); each pass draws its
/// own masks, so the loss's gradients reach the towers through other masks than the features they were computed on:
/// an unbiased variant, not bit-exact full-batch FLIP.</para>
/// <para>Needs a ViT image tower (<see cref="ITokenImageTower"/>).</para>
/// </remarks>
public sealed class FlipObjective : ClipObjective, IDisposable
{
    private readonly ClipObjective _loss;
    private long _steps;
    private long _draws;
    private ulong _seed;

    /// <summary>FLIP with CLIP's contrastive loss and <paramref name="options"/> (default: ratio 0.5, always masked).</summary>
    public FlipObjective(FlipOptions? options = null) : this(new ContrastiveObjective(), options) { }

    /// <summary>FLIP around the loss of <paramref name="loss"/> (e.g. <see cref="SigLip.SigLipObjective"/>), which must encode
    /// "image" and "text" features.</summary>
    public FlipObjective(ClipObjective loss, FlipOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(loss);
        options ??= new FlipOptions();
        options.Validate();
        _loss = loss;
        Options = options;
        _seed = options.Seed;
    }

    /// <summary>The settings.</summary>
    public FlipOptions Options { get; }

    /// <summary>The wrapped objective whose loss is minimised.</summary>
    public ClipObjective Inner => _loss;

    /// <inheritdoc/>
    public override string Name => $"flip-{_loss.Name}";

    /// <summary>Optimizer steps completed (counted in <see cref="AfterStep"/>).</summary>
    public long StepsCompleted => _steps;

    /// <summary>Whether the next training step masks patches (false during the final unmasked tuning).</summary>
    public bool MaskingActive => Options.UnmaskedTuningSteps == 0 || _steps < Options.TotalSteps!.Value - Options.UnmaskedTuningSteps;

    /// <summary>The keep indices drawn by the last masked <see cref="Encode"/> [N, K] (on the model's device), or null: for diagnostics and tests.</summary>
    internal Tensor? LastKeepIndices { get; private set; }

    /// <summary>Patches kept out of <paramref name="patches"/>: <c>round((1 − ratio)·P)</c>, at least one.</summary>
    public int KeptCount(int patches) => Math.Max(1, (int)Math.Round((1 - Options.MaskRatio) * patches, MidpointRounding.AwayFromZero));

    /// <summary>
    /// Draws, for each of <paramref name="batch"/> samples, a pseudo-random subset of <see cref="KeptCount"/> of the
    /// <paramref name="patches"/> patch indices (0-based, class token excluded), independently per sample: [N, K] int64
    /// on <paramref name="device"/> (CPU when null). Each call is the next draw of the objective's sequence.
    /// </summary>
    public Tensor DrawKeepIndices(long batch, int patches, Device? device = null)
    {
        using var scope = NewDisposeScope();
        // Ranking distinct pseudo-random keys gives a permutation per row (as FLIP's shuffle); its first K entries are
        // the kept patches. Computed on the device from (seed, draw number) alone, identically on every device.
        var keys = CounterHash.PermutationKeys(_seed, _draws++, batch, patches, device ?? CPU);
        var keep = keys.argsort(1).narrow(1, 0, KeptCount(patches));
        return keep.MoveToOuterDisposeScope();
    }

    /// <inheritdoc/>
    public override ClipConfig PrepareArchitecture(ClipConfig config) => _loss.PrepareArchitecture(config);

    /// <inheritdoc/>
    public override void Initialize(ClipModel model, Device device)
    {
        TokenImageTower(model, "drops patch tokens");
        _loss.Initialize(model, device);
    }

    /// <inheritdoc/>
    public override ObjectiveFeatures Encode(ClipModel model, TrainingBatch batch)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(batch);
        if (!model.training || !MaskingActive)
            return _loss.Encode(model, batch);
        using var scope = NewDisposeScope();
        var keep = DrawKeepIndices(batch.Count, TokenImageTower(model, "drops patch tokens").PatchCount, model.Device);
        LastKeepIndices?.Dispose();
        LastKeepIndices = keep.DetachFromDisposeScope();
        using var tokens = model.EncodeImageTokens(batch.Pixels, keep, projectTokens: false);
        var image = F.normalize(tokens.Pooled.to(ScalarType.Float32), dim: -1);
        var text = batch.TextFeatures(model);
        return new ObjectiveFeatures(new Dictionary<string, Tensor>
        {
            ["image"] = image.MoveToOuterDisposeScope(),
            ["text"] = text.MoveToOuterDisposeScope(),
        });
    }

    /// <inheritdoc/>
    public override Tensor Loss(ClipModel model, ObjectiveFeatures features, bool trainModelLevelParameters) =>
        _loss.Loss(model, features, trainModelLevelParameters);

    /// <inheritdoc/>
    public override Tensor LocalLoss(ClipModel model, ObjectiveFeatures features, long start, long count, bool trainModelLevelParameters) =>
        _loss.LocalLoss(model, features, start, count, trainModelLevelParameters);

    /// <inheritdoc/>
    internal override AdamW? CreateOptimizer(IReadOnlyList<OptimizedParameter> parameters, ClipTrainerOptions options) =>
        _loss.CreateOptimizer(parameters, options);

    /// <inheritdoc/>
    public override IEnumerable<(string Name, Parameter Parameter)> ExtraParameters() => _loss.ExtraParameters();

    /// <inheritdoc/>
    public override void AfterStep(ClipModel model, ObjectiveFeatures? batchFeatures)
    {
        _steps++;
        _loss.AfterStep(model, batchFeatures);
    }

    /// <summary>The seed, the draw counter, the step count and the wrapped objective's state (prefixed <c>inner.</c>).</summary>
    public override IReadOnlyDictionary<string, Tensor> StateDict()
    {
        var state = _loss.StateDict().ToDictionary(p => "inner." + p.Key, p => p.Value);
        state["flip.seed"] = tensor(unchecked((long)_seed));
        state["flip.draws"] = tensor(_draws);
        state["flip.steps"] = tensor(_steps);
        return state;
    }

    /// <inheritdoc/>
    public override void LoadStateDict(IReadOnlyDictionary<string, Tensor> state)
    {
        ArgumentNullException.ThrowIfNull(state);
        // Checkpoints of earlier versions hold a CPU generator's state ("flip.generator") instead: their masks continue
        // from a fresh counter, which changes which patches are drawn, not how.
        if (state.TryGetValue("flip.seed", out var seed)) _seed = unchecked((ulong)seed.item<long>());
        if (state.TryGetValue("flip.draws", out var draws)) _draws = draws.item<long>();
        if (state.TryGetValue("flip.steps", out var steps)) _steps = steps.item<long>();
        _loss.LoadStateDict(StateDictLoader.WithPrefix(state, "inner."));
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        LastKeepIndices?.Dispose();
    }
}
