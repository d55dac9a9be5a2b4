using System;
using System.Collections.Generic;
using System.Linq;
using Microsoft.ML.Clip.Modeling;
using Microsoft.ML.Clip.Torch;
using Microsoft.ML.Clip.Training.Locking;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Clip.Training.Objectives.WenLan;

/// <summary>
/// WenLan / BriVL (Huo et al., 2021): cross-modal contrastive learning with momentum encoders and queues
/// (MoCo applied across modalities). A key model — a copy of both towers, updated as
/// <c>θ_k ← m·θ_k + (1 − m)·θ_q</c> after each optimizer step — encodes the batch without gradient; two FIFO
/// queues keep the last K image keys and text keys. The loss is
/// <c>InfoNCE(q^I; k^T_+, Q_T) + InfoNCE(q^T; k^I_+, Q_I)</c> (the two directions summed, as the paper), see
/// <see cref="WenLanLoss"/>. Only the query model is trained and saved; the key model and queues live in the
/// objective and in its checkpointed state.
/// </summary>
/// <remarks>
/// Gradient accumulation: keys are computed without gradient inside <see cref="Encode"/>, so cached and fresh
/// micro-batch features carry identical keys; <see cref="Loss"/> remembers the whole batch's keys and
/// <see cref="AfterStep"/> enqueues them once per optimizer step, after the momentum update. The key model is
/// kept float32 and in eval mode (no patch dropout), so both accumulation passes see the same keys.
/// </remarks>
public sealed class WenLanObjective : ClipObjective, IDisposable
{
    private const string ImageKey = "image_key", TextKey = "text_key";
    private ClipModel? _query;      // the float32 master the key model follows
    private FrozenParts? _locked; // the master's locked parts: the key model keeps them as copied
    private ClipModel? _key;
    private FeatureQueue? _imageQueue, _textQueue;
    private Tensor? _pendingImageKeys, _pendingTextKeys;

    /// <summary>Creates the objective.</summary>
    public WenLanObjective(WenLanOptions? options = null)
    {
        Options = options ?? new WenLanOptions();
        Options.Validate();
    }

    /// <summary>The settings.</summary>
    public WenLanOptions Options { get; }

    /// <inheritdoc/>
    public override string Name => "wenlan";

    /// <summary>The momentum (key) model, after <see cref="Initialize"/>.</summary>
    public ClipModel KeyModel => _key ?? throw NotInitialized();

    /// <summary>The queue of image keys (negatives for text queries), after <see cref="Initialize"/>.</summary>
    internal FeatureQueue ImageQueue => _imageQueue ?? throw NotInitialized();

    /// <summary>The queue of text keys (negatives for image queries), after <see cref="Initialize"/>.</summary>
    internal FeatureQueue TextQueue => _textQueue ?? throw NotInitialized();

    /// <inheritdoc/>
    public override void Initialize(ClipModel model, Device device)
    {
        ArgumentNullException.ThrowIfNull(model);
        Dispose();
        _query = model;
        _locked = FrozenParts.Of(model);
        _key = new ClipModel(model.Config, device, ScalarType.Float32);
        MomentumCopy.InitializeFrom(_key, model);
        _key.eval();
        _imageQueue = new FeatureQueue(Options.QueueSize, model.Config.EmbedDim, device);
        _textQueue = new FeatureQueue(Options.QueueSize, model.Config.EmbedDim, device);
    }

    /// <inheritdoc/>
    public override ObjectiveFeatures Encode(ClipModel model, TrainingBatch batch)
    {
        var key = KeyModel;
        using var scope = NewDisposeScope();
        var image = batch.ImageFeatures(model);
        var text = batch.TextFeatures(model);
        Tensor imageKey, textKey;
        using (no_grad())
        {
            imageKey = key.EncodeImage(batch.Pixels, normalize: true);
            textKey = key.EncodeText(batch.Tokens, normalize: true);
        }
        return new ObjectiveFeatures(new Dictionary<string, Tensor>
        {
            ["image"] = image.MoveToOuterDisposeScope(),
            ["text"] = text.MoveToOuterDisposeScope(),
            [ImageKey] = imageKey.MoveToOuterDisposeScope(),
            [TextKey] = textKey.MoveToOuterDisposeScope(),
        });
    }

    /// <inheritdoc/>
    public override Tensor Loss(ClipModel model, ObjectiveFeatures features, bool trainModelLevelParameters)
    {
        var imageQueue = ImageQueue;
        var textQueue = TextQueue;
        imageQueue.CheckBatchSize(features.Count);
        RememberKeys(features[ImageKey], features[TextKey]);
        using var scope = NewDisposeScope();
        var scale = Scale(model, trainModelLevelParameters);
        var imageToText = WenLanLoss.Compute(features["image"], features[TextKey], textQueue.Features, scale);
        var textToImage = WenLanLoss.Compute(features["text"], features[ImageKey], imageQueue.Features, scale);
        return ScalarSafe.Add(imageToText, textToImage).MoveToOuterDisposeScope();
    }

    /// <inheritdoc/>
    public override void AfterStep(ClipModel model, ObjectiveFeatures? batchFeatures)
    {
        // Momentum update from the float32 master (the working model may be a bf16 copy), then enqueue the keys
        // the step's loss used — computed by the key model before this update, as MoCo.
        MomentumCopy.Update(KeyModel, _query!, Options.Momentum, _locked!.Contains);
        if (batchFeatures is not null) RememberKeys(batchFeatures[ImageKey], batchFeatures[TextKey]);
        if (_pendingImageKeys is null || _pendingTextKeys is null) return;
        ImageQueue.Enqueue(_pendingImageKeys);
        TextQueue.Enqueue(_pendingTextKeys);
        ForgetKeys();
    }

    /// <inheritdoc/>
    public override IReadOnlyDictionary<string, Tensor> StateDict()
    {
        var state = new Dictionary<string, Tensor>
        {
            ["image_queue"] = ImageQueue.Features,
            ["image_queue_pointer"] = ImageQueue.PointerTensor,
            ["text_queue"] = TextQueue.Features,
            ["text_queue_pointer"] = TextQueue.PointerTensor,
        };
        foreach (var (name, tensor) in KeyModel.state_dict()) state["key_model." + name] = tensor;
        return state;
    }

    /// <inheritdoc/>
    public override void LoadStateDict(IReadOnlyDictionary<string, Tensor> state)
    {
        ArgumentNullException.ThrowIfNull(state);
        LoadModuleState(KeyModel, state, "key_model.");
        foreach (var p in KeyModel.parameters()) p.requires_grad = false;
        ImageQueue.Load(Get(state, "image_queue"), Get(state, "image_queue_pointer"));
        TextQueue.Load(Get(state, "text_queue"), Get(state, "text_queue_pointer"));
        ForgetKeys();
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        ForgetKeys();
        _key?.Dispose();
        _imageQueue?.Dispose();
        _textQueue?.Dispose();
        _key = null;
        _imageQueue = _textQueue = null;
    }

    private Tensor Scale(ClipModel model, bool trainModelLevelParameters)
    {
        if (Options.Temperature is double t)
            return ScalarSafe.Full([], 1 / t, ScalarType.Float32, model.Device);
        var logitScale = ModelLevel(model.LogitScale, trainModelLevelParameters);
        return logitScale.to(ScalarType.Float32).exp();
    }

    private void RememberKeys(Tensor imageKeys, Tensor textKeys)
    {
        // Every accumulation pass presents the same whole-batch keys; the last one seen is enqueued after the step.
        ForgetKeys();
        _pendingImageKeys = imageKeys.detach().to(ScalarType.Float32).clone().DetachFromDisposeScope();
        _pendingTextKeys = textKeys.detach().to(ScalarType.Float32).clone().DetachFromDisposeScope();
    }

    private void ForgetKeys()
    {
        _pendingImageKeys?.Dispose();
        _pendingTextKeys?.Dispose();
        _pendingImageKeys = _pendingTextKeys = null;
    }

    private static Tensor Get(IReadOnlyDictionary<string, Tensor> state, string name) =>
        state.TryGetValue(name, out var t) ? t : throw new ArgumentException($"The checkpoint has no WenLan tensor '{name}'.");

    private static InvalidOperationException NotInitialized() =>
        new("The WenLan objective is not initialized: ClipTrainer calls Initialize with the model before training.");
}
