using System;
using System.Collections.Generic;
using System.Linq;
using Microsoft.ML.Clip.Modeling;
using Microsoft.ML.Clip.Modeling.Losses;
using Microsoft.ML.Clip.Torch;
using Microsoft.ML.Clip.Training.Locking;
using Microsoft.ML.Clip.Training.Objectives.WenLan;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Microsoft.ML.Clip.Training.Objectives.MaskClip;

/// <summary>
/// MaskCLIP (Dong et al., 2023): CLIP's contrastive loss plus masked self-distillation on the image tower and masked
/// language modelling on the text tower,
/// <c>L = w_c·L_CLIP + w_d·L_distill + w_m·L_MLM</c>.
/// </summary>
/// <remarks>
/// <para>Contrastive: CLIP's symmetric InfoNCE on the full image and the unmasked caption (<see cref="ClipLoss"/>).</para>
/// <para>Masked self-distillation: a mean teacher — an EMA of the image tower and of the distillation head, updated after
/// every optimizer step — encodes the full image; the student (the model's own image tower) encodes the image with a
/// random <see cref="MaskClipOptions.MaskRatio"/> of its patches removed (keep indices, as FLIP). Both pass their patch
/// tokens (after the tower's final LayerNorm, unprojected) through a <see cref="DistillationHead"/> (LayerNorm + Linear to
/// K prototypes). The target of each visible student token is the teacher's distribution at the same patch,
/// <c>softmax((z^T − c)/τ_t)</c>, centred by a running mean <c>c</c> and sharpened by τ_t &lt; τ_s (DINO/iBOT, on which the
/// paper builds); the loss is its cross-entropy with the student's <c>log softmax(z^S/τ_s)</c>, averaged over tokens. The
/// paper predicts the teacher at masked positions through mask tokens; with patch dropping the student sees no mask
/// tokens, so here the visible tokens, which were encoded without the context of the masked ones, are distilled.</para>
/// <para>Masked language modelling: <see cref="MaskClipOptions.TextMaskProbability"/> of each caption's non-special
/// tokens are replaced by <see cref="MaskClipOptions.MaskTokenId"/>; the text tower (CLIP's causal transformer, kept as it
/// is, so a masked token is predicted from its left context) encodes the masked caption and a decoder tied to the token
/// embedding with a trained bias (or a separate Linear) predicts the original ids.</para>
/// <para>Token-level terms travel as per-sample sums and counts, so accumulated micro-batches give the same token mean.
/// The teacher, its head, the student head, the MLM head and the centre are in <see cref="StateDict"/>. The saved model
/// is the student CLIP model; the teacher and heads are training-only.</para>
/// </remarks>
public sealed class MaskClipObjective : ClipObjective, IDisposable
{
    private ClipModel? _student;              // the float32 master the teacher follows
    private FrozenParts? _locked;     // the student's locked parts: the teacher keeps them as copied
    private nn.Module<Tensor, Tensor>? _teacher;
    private DistillationHead? _head, _teacherHead;
    private Parameter? _textBias;             // tied MLM decoder bias [V]
    private Linear? _textHead;                // untied MLM decoder
    private Tensor? _center;                  // [K]
    private Tensor? _pendingTeacherMean;      // [K], the step's batch mean of teacher logits

    /// <summary>Creates the objective.</summary>
    public MaskClipObjective(MaskClipOptions? options = null)
    {
        Options = options ?? new MaskClipOptions();
        Options.Validate();
    }

    /// <summary>The settings.</summary>
    public MaskClipOptions Options { get; }

    /// <inheritdoc/>
    public override string Name => "maskclip";

    /// <summary>The EMA teacher image tower, after <see cref="Initialize"/>.</summary>
    public nn.Module<Tensor, Tensor> Teacher => _teacher ?? throw NotInitialized();

    /// <summary>The trained distillation head, after <see cref="Initialize"/>.</summary>
    internal DistillationHead Head => _head ?? throw NotInitialized();

    /// <summary>The teacher's (EMA) distillation head, after <see cref="Initialize"/>.</summary>
    internal DistillationHead TeacherHead => _teacherHead ?? throw NotInitialized();

    /// <summary>The running centre of the teacher's logits [K], after <see cref="Initialize"/>.</summary>
    public Tensor Center => _center ?? throw NotInitialized();

    /// <inheritdoc/>
    public override void Initialize(ClipModel model, Device device)
    {
        TokenImageTower(model, "distils patch tokens");
        Dispose();
        _student = model;
        _locked = FrozenParts.Of(model);
        var config = model.Config;
        _teacher = ImageTowers.Create(config.Vision, config.EmbedDim, config.QuickGelu, device, ScalarType.Float32);
        MomentumCopy.InitializeFrom(_teacher, model.Visual);
        _teacher.eval();
        _head = new DistillationHead(config.Vision.Width, Options.Prototypes, device);
        _teacherHead = new DistillationHead(config.Vision.Width, Options.Prototypes, device);
        MomentumCopy.InitializeFrom(_teacherHead, _head);
        _teacherHead.eval();
        if (Options.TieTextHeadToEmbedding)
            _textBias = new Parameter(zeros(config.Text.VocabSize, ScalarType.Float32, device));
        else
            _textHead = nn.Linear(config.Text.Width, config.Text.VocabSize, device: device);
        _center = zeros(Options.Prototypes, ScalarType.Float32, device);
    }

    /// <inheritdoc/>
    public override IEnumerable<(string Name, Parameter Parameter)> ExtraParameters()
    {
        foreach (var (name, p) in Head.named_parameters()) yield return ("head." + name, p);
        if (_textBias is not null) yield return ("text_head.bias", _textBias);
        if (_textHead is not null)
            foreach (var (name, p) in _textHead.named_parameters()) yield return ("text_head." + name, p);
    }

    /// <inheritdoc/>
    public override ObjectiveFeatures Encode(ClipModel model, TrainingBatch batch)
    {
        var teacher = (ITokenImageTower)Teacher;
        using var scope = NewDisposeScope();
        var features = new Dictionary<string, Tensor>
        {
            ["image"] = batch.ImageFeatures(model),
            ["text"] = batch.TextFeatures(model),
        };

        // Masked self-distillation: the student sees a random subset of patches, the teacher the whole image.
        int patches = TokenImageTower(model, "distils patch tokens").PatchCount;
        int kept = Math.Max(1, (int)(patches * (1 - Options.MaskRatio)));
        var keep = randn(batch.Count, patches, device: batch.Pixels.device).topk(kept, dim: -1).indexes; // uniform random subsets
        var studentTokens = model.EncodeImageTokens(batch.Pixels, keep, projectTokens: false).Tokens;  // [N, kept, width]
        var studentLogits = Head.forward(studentTokens);
        Tensor teacherLogits;
        using (no_grad())
        {
            var all = teacher.ForwardTokens(batch.Pixels, null, projectTokens: false).Tokens;        // [N, P, width]
            var index = keep.unsqueeze(-1).expand(keep.shape[0], kept, all.shape[2]);
            teacherLogits = TeacherHead.forward(all.gather(1, index));                                 // [N, kept, K]
        }
        features["distill_sum"] = MaskClipLosses.DistillationPerSample(studentLogits, teacherLogits, Center, Options.StudentTemperature, Options.TeacherTemperature);
        features["distill_count"] = ScalarSafe.Full([batch.Count], kept, ScalarType.Float32, batch.Pixels.device);
        features["teacher_mean"] = teacherLogits.mean([1]);

        // Masked language modelling on the text tower.
        long maskId = Options.MaskTokenId ?? model.Config.Text.VocabSize - 2;
        var (masked, mask) = MaskClipLosses.MaskText(batch.Tokens, Options.TextMaskProbability, maskId);
        var hidden = model.EncodeTextTokens(masked, projectTokens: false).Tokens;                      // [N, L, width]
        var (sums, counts) = MaskClipLosses.LanguageModelPerSample(TextLogits(model, hidden), batch.Tokens, mask);
        features["mlm_sum"] = sums;
        features["mlm_count"] = counts;
        return new ObjectiveFeatures(features.ToDictionary(p => p.Key, p => p.Value.MoveToOuterDisposeScope()));
    }

    /// <inheritdoc/>
    public override Tensor Loss(ClipModel model, ObjectiveFeatures features, bool trainModelLevelParameters)
    {
        using var scope = NewDisposeScope();
        // Remember the whole batch's teacher mean: AfterStep moves the centre once per optimizer step.
        _pendingTeacherMean?.Dispose();
        _pendingTeacherMean = features["teacher_mean"].detach().mean([0]).clone().DetachFromDisposeScope();

        var logitScale = ModelLevel(model.LogitScale, trainModelLevelParameters);
        var contrastive = ClipLoss.Compute(features["image"], features["text"], logitScale.to(ScalarType.Float32).exp());
        var distillation = features["distill_sum"].sum().div(features["distill_count"].sum());
        using var one = 1.0.ToScalar(); // a batch may have no masked token: divide by at least 1
        var language = features["mlm_sum"].sum().div(features["mlm_count"].sum().clamp_min(one));
        var total = ScalarSafe.Mul(contrastive, Options.ContrastiveWeight);
        total = ScalarSafe.AddInPlace(total, distillation, Options.DistillationWeight);
        total = ScalarSafe.AddInPlace(total, language, Options.LanguageModelWeight);
        return total.MoveToOuterDisposeScope();
    }

    /// <inheritdoc/>
    public override void AfterStep(ClipModel model, ObjectiveFeatures? batchFeatures)
    {
        // EMA from the float32 master tower (the working model may be a bf16 copy) and from the trained head.
        MomentumCopy.Update(Teacher, _student!.Visual, Options.TeacherMomentum, name => _locked!.Contains(ClipModel.ImageTowerPrefix + name));
        MomentumCopy.Update(TeacherHead, Head, Options.TeacherMomentum);
        if (_pendingTeacherMean is null) return;
        using (no_grad())
        {
            ScalarSafe.MulInPlace(Center, Options.CenterMomentum);
            ScalarSafe.AddInPlace(Center, _pendingTeacherMean, 1 - Options.CenterMomentum);
        }
        _pendingTeacherMean.Dispose();
        _pendingTeacherMean = null;
    }

    /// <inheritdoc/>
    public override IReadOnlyDictionary<string, Tensor> StateDict()
    {
        var state = new Dictionary<string, Tensor> { ["center"] = Center };
        foreach (var (name, t) in Teacher.state_dict()) state["teacher." + name] = t;
        foreach (var (name, t) in TeacherHead.state_dict()) state["teacher_head." + name] = t;
        foreach (var (name, t) in Head.state_dict()) state["head." + name] = t;
        if (_textBias is not null) state["text_head.bias"] = _textBias;
        if (_textHead is not null)
            foreach (var (name, t) in _textHead.state_dict()) state["text_head." + name] = t;
        return state;
    }

    /// <inheritdoc/>
    public override void LoadStateDict(IReadOnlyDictionary<string, Tensor> state)
    {
        ArgumentNullException.ThrowIfNull(state);
        LoadModuleState(Teacher, state, "teacher.");
        LoadModuleState(TeacherHead, state, "teacher_head.");
        LoadModuleState(Head, state, "head.");
        if (_textHead is not null) LoadModuleState(_textHead, state, "text_head.");
        using (no_grad())
        {
            if (_textBias is not null) _textBias.copy_(Get(state, "text_head.bias"));
            Center.copy_(Get(state, "center"));
        }
        foreach (var p in Teacher.parameters().Concat(TeacherHead.parameters())) p.requires_grad = false;
        _pendingTeacherMean?.Dispose();
        _pendingTeacherMean = null;
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        _teacher?.Dispose();
        _head?.Dispose();
        _teacherHead?.Dispose();
        _textBias?.Dispose();
        _textHead?.Dispose();
        _center?.Dispose();
        _pendingTeacherMean?.Dispose();
        _teacher = null;
        _head = _teacherHead = null;
        _textBias = null;
        _textHead = null;
        _center = _pendingTeacherMean = null;
    }

    /// <summary>MLM logits [N, L, V] of text-tower features [N, L, width].</summary>
    private Tensor TextLogits(ClipModel model, Tensor hidden)
    {
        if (_textHead is not null) return _textHead.forward(hidden.to(ScalarType.Float32));
        // Tied decoder: the (possibly bf16 working) model's own embedding matrix, so its gradient reaches the trained weights.
        var embedding = model.named_parameters().First(p => p.name == "token_embedding.weight").parameter;
        return ScalarSafe.Add(hidden.to(ScalarType.Float32).matmul(embedding.to(ScalarType.Float32).t()), _textBias!);
    }

    private static Tensor Get(IReadOnlyDictionary<string, Tensor> state, string name) =>
        state.TryGetValue(name, out var t) ? t : throw new ArgumentException($"The checkpoint has no MaskCLIP tensor '{name}'.");

    private static InvalidOperationException NotInitialized() =>
        new("The MaskCLIP objective is not initialized: ClipTrainer calls Initialize with the model before training.");
}
