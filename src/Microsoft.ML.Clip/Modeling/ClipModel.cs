using System;
using System.Linq;
using Microsoft.ML.Clip.Torch;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace Microsoft.ML.Clip.Modeling;

/// <summary>
/// A CLIP model (image tower + text transformer + learnable temperature) numerically matching open_clip's
/// <c>CLIP</c> and <c>CustomTextCLIP</c>, with the same state-dict names so open_clip checkpoints load without
/// renaming: <c>visual.*</c> (<c>visual.trunk.*</c> for timm towers), the text tower (<c>token_embedding</c>,
/// <c>positional_embedding</c>, <c>transformer.resblocks.N.*</c>, <c>ln_final</c>, <c>text_projection</c>) at the top
/// level or, with <see cref="ClipConfig.CustomText"/>, under <c>text.</c>, and <c>logit_scale</c> (plus
/// <c>logit_bias</c> when <see cref="ClipConfig.InitLogitBias"/> is set).
/// </summary>
/// <remarks>
/// open_clip's <c>CLIP</c> stores the text tower's parts flat rather than as a submodule; <c>CustomTextCLIP</c> keeps
/// it as <c>text</c>. Both are one text tower here, registered either way.
/// </remarks>
public sealed partial class ClipModel : nn.Module<Tensor, Tensor, ClipOutput>
{
    // Field names are the state-dict names. Registered by hand (see RegisterComponents) because where the text
    // tower's parts go depends on the layout.
    private readonly nn.Module<Tensor, Tensor> visual;
    private readonly TextTransformer text;
    private TowerLayout? _imageLayout, _textLayout; // built on first use: the towers do not change
    private Parameter logit_scale;
    private Parameter? logit_bias;

    /// <summary>Creates a freshly initialised model (open_clip's initialisation) for <paramref name="config"/>.</summary>
    /// <param name="config">The architecture.</param>
    /// <param name="device">Where the parameters live (null: the default device, normally the CPU). The <c>meta</c>
    /// device builds the structure without allocating memory, e.g. to count parameters.</param>
    /// <param name="dtype">Parameter dtype (null: float32). For inference in bf16 prefer <see cref="ToInferenceDType"/>.</param>
    /// <param name="visual">An image tower to use instead of the one the config describes (it must map pixels to
    /// [N, embed_dim]); the config's vision section then only documents it.</param>
    public ClipModel(ClipConfig config, Device? device = null, ScalarType? dtype = null, nn.Module<Tensor, Tensor>? visual = null)
        : base(nameof(ClipModel))
    {
        ArgumentNullException.ThrowIfNull(config);
        config.Validate();
        Config = config;
        var type = dtype ?? ScalarType.Float32;

        this.visual = visual ?? ImageTowers.Create(config.Vision, config.EmbedDim, config.QuickGelu, device, dtype);
        text = new TextTransformer(config.Text, config.EmbedDim, MlpActivations.ForText(config), device, dtype);
        logit_scale = new Parameter(full(Array.Empty<long>(), config.InitLogitScale, type, device));
        logit_bias = config.InitLogitBias is double bias ? new Parameter(full(Array.Empty<long>(), bias, type, device)) : null;

        register_module(nameof(visual), this.visual);
        if (config.CustomText)
        {
            register_module(nameof(text), text);
        }
        else
        {
            // open_clip's CLIP order: transformer, token_embedding, positional_embedding, ln_final, text_projection.
            register_module("transformer", text.Transformer);
            register_module("token_embedding", text.TokenEmbedding);
            register_parameter("positional_embedding", text.PositionalEmbedding);
            register_module("ln_final", text.FinalNorm);
            if (text.ProjectionLayer is { } layer) register_module("text_projection", layer);
            else register_parameter("text_projection", text.ProjectionMatrix!);
            text.Owner = this;
        }
        register_parameter(nameof(logit_scale), logit_scale);
        if (logit_bias is not null) register_parameter(nameof(logit_bias), logit_bias);
        this.DetachFromDisposeScopes();
    }

    /// <summary>Everything is registered in the constructor: the text tower's place depends on the layout.</summary>
    protected override void RegisterComponents() { }

    /// <summary>The architecture.</summary>
    public ClipConfig Config { get; }

    /// <summary>The image tower (<c>visual</c>).</summary>
    public nn.Module<Tensor, Tensor> Visual => visual;

    /// <summary>The prefix of the image tower's names in the model's state dict (<c>visual.</c>, as open_clip's).</summary>
    internal const string ImageTowerPrefix = nameof(visual) + ".";

    /// <summary>The text tower.</summary>
    internal TextTransformer Text => text;

    /// <summary>The image tower's layout inside this model (<c>visual.</c> prefix); a tower that does not describe itself is one stem.</summary>
    internal TowerLayout ImageLayout => _imageLayout ??= (visual is IDescribedTower tower ? tower.Layout
        : new TowerLayout([""], _ => null, 0, [], decaysByDepth: false)).WithPrefix(ImageTowerPrefix);

    /// <summary>The text tower's layout inside this model (no prefix, or <c>text.</c> with <see cref="ClipConfig.CustomText"/>).</summary>
    internal TowerLayout TextLayout => _textLayout ??= text.Layout.WithPrefix(Config.CustomText ? "text." : "");

    /// <summary>
    /// Turns activation checkpointing of each tower's residual blocks on or off (training passes with gradients only).
    /// </summary>
    /// <exception cref="NotSupportedException">The image tower is asked for but has no checkpointable blocks.</exception>
    internal void CheckpointActivations(bool image, bool text)
    {
        if (visual is ICheckpointableTower tower) tower.CheckpointActivations = image;
        else if (image)
            throw new NotSupportedException($"Activation checkpointing covers transformer blocks, and this image tower ({visual.GetType().Name}) " +
                "has none (a ModifiedResNet's BatchNorm would also count its statistics twice). Checkpoint the text tower only.");
        this.text.Transformer.CheckpointActivations = text;
    }

    /// <summary>The learnable log inverse temperature (<c>logit_scale</c>, 0-dim).</summary>
    public Parameter LogitScale => logit_scale;

    /// <summary>The learnable logit bias (<c>logit_bias</c>, 0-dim) of SigLIP-style models, else null.</summary>
    public Parameter? LogitBias => logit_bias;

    /// <summary>
    /// Whether every attention layer of both towers uses libtorch's fused scaled_dot_product_attention
    /// (see <see cref="MultiheadSelfAttention.UseFusedAttention"/>). Setting it applies to all layers.
    /// </summary>
    public bool UseFusedAttention
    {
        get => AttentionLayers().All(a => a.UseFusedAttention);
        set
        {
            foreach (var attention in AttentionLayers()) attention.UseFusedAttention = value;
        }
    }

    private System.Collections.Generic.IEnumerable<IAttentionLayer> AttentionLayers() =>
        modules().OfType<IAttentionLayer>();

    /// <summary>dtype of the matrix weights (the dtype towers compute in).</summary>
    public ScalarType DType => text.TokenEmbedding.weight!.dtype;

    /// <summary>Device holding the parameters.</summary>
    public Device Device => text.TokenEmbedding.weight!.device;

    /// <summary>
    /// Re-draws the text tower as open_clip's <c>TextTransformer.init_parameters</c>: token embedding ~ N(0, 0.02),
    /// positional embedding ~ N(0, 0.01), attention in-projections ~ N(0, width^-½), output and MLP-out
    /// projections ~ N(0, width^-½·(2·layers)^-½), MLP-in ~ N(0, (2·width)^-½), text projection ~ N(0, width^-½).
    /// </summary>
    public void InitializeTextParameters() => text.InitializeParameters();

    /// <summary>
    /// Image embeddings [N, embed_dim] as fp32 (open_clip <c>encode_image</c>).
    /// </summary>
    /// <param name="pixels">Normalised images [N, 3, H, W]; cast to the model's dtype and device on entry.</param>
    /// <param name="normalize">L2-normalise the embeddings.</param>
    public Tensor EncodeImage(Tensor pixels, bool normalize = false)
    {
        using var scope = NewDisposeScope();
        // Cast at the tower entry whatever the tower: an fp32 input into a bf16 convolution throws.
        if (visual.parameters().FirstOrDefault() is { } first && pixels.is_floating_point())
            pixels = pixels.to(first.dtype, first.device);
        var features = visual.forward(pixels);
        return Finish(features, normalize).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Text embeddings [N, embed_dim] as fp32 (open_clip <c>encode_text</c>): the final-LayerNorm output at the pooled
    /// position (<see cref="TextConfig.Pooling"/>: each row's largest token id, CLIP's end-of-text token, by default;
    /// the last position for SigLIP, whose tokenizer pads to the context length), through <c>text_projection</c>.
    /// </summary>
    /// <param name="tokens">Token ids [N, L] (int64 or int32), L ≤ context length, zero padded.</param>
    /// <param name="normalize">L2-normalise the embeddings.</param>
    public Tensor EncodeText(Tensor tokens, bool normalize = false)
    {
        using var scope = NewDisposeScope();
        return Finish(text.forward(tokens), normalize).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Image embeddings with token-level features (FILIP) and optional patch selection (FLIP). Needs an image
    /// tower implementing <see cref="ITokenImageTower"/> (the ViT does). Outputs are in the model's dtype.
    /// </summary>
    /// <exception cref="NotSupportedException">The image tower has no token outputs.</exception>
    public TowerOutput EncodeImageTokens(Tensor pixels, Tensor? keepPatchIndices = null, bool projectTokens = true)
    {
        if (visual is not ITokenImageTower tower)
            throw new NotSupportedException($"The image tower ({visual.GetType().Name}) does not expose token-level outputs.");
        return tower.ForwardTokens(pixels, keepPatchIndices, projectTokens);
    }

    /// <summary>
    /// Text embeddings with token-level features [N, L, embed_dim] (or [N, L, width] unprojected), after
    /// <c>ln_final</c>, in the model's dtype. Padding positions are included; mask them with the token ids.
    /// </summary>
    public TowerOutput EncodeTextTokens(Tensor tokens, bool projectTokens = true)
    {
        using var scope = NewDisposeScope();
        var (pooled, all) = text.Encode(tokens);
        pooled = text.Project(pooled);
        if (projectTokens) all = text.Project(all);
        return new TowerOutput(pooled.MoveToOuterDisposeScope(), all.MoveToOuterDisposeScope());
    }

    /// <summary>
    /// open_clip's <c>CLIP.forward</c>: normalised image and text features and <c>exp(logit_scale)</c>
    /// (and the logit bias, if any).
    /// </summary>
    public override ClipOutput forward(Tensor pixels, Tensor tokens)
    {
        using var scope = NewDisposeScope();
        var image = EncodeImage(pixels, normalize: true);
        var text = EncodeText(tokens, normalize: true);
        var scale = logit_scale.to(ScalarType.Float32).exp();
        var bias = logit_bias?.to(ScalarType.Float32);
        return new ClipOutput(image.MoveToOuterDisposeScope(), text.MoveToOuterDisposeScope(),
            scale.MoveToOuterDisposeScope(), bias?.MoveToOuterDisposeScope());
    }

    /// <summary>
    /// A new model with the same architecture and an exact copy of every parameter and buffer, in float32 on
    /// <paramref name="device"/> (null: this model's device). Fine-tuning and bf16 inference copies start here so
    /// the original keeps its weights.
    /// </summary>
    public ClipModel Copy(Device? device = null)
    {
        var copy = new ClipModel(Config, device ?? Device);
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        foreach (var ((_, target), (_, source)) in copy.state_dict().Zip(state_dict()))
            target.copy_(source);
        return copy;
    }

    /// <summary>
    /// Casts the model for inference in <paramref name="dtype"/> (float32 or bfloat16) as open_clip's
    /// low-precision conversion: matrix weights and embeddings take the dtype; LayerNorm parameters,
    /// <c>logit_scale</c> and <c>logit_bias</c> stay fp32 (LayerNorm computes in fp32 anyway, and a bf16 logit
    /// scale would shift every logit by up to 1%). Inputs are cast at each tower's entry; the transformer towers keep
    /// their residual stream in fp32 (<see cref="ResidualStream"/>); <see cref="EncodeImage"/> and <see cref="EncodeText"/>
    /// return fp32. Not meant for training (there are no fp32 master weights).
    /// </summary>
    public ClipModel ToInferenceDType(ScalarType dtype)
    {
        if (dtype is not (ScalarType.Float32 or ScalarType.BFloat16 or ScalarType.Float16))
            throw new ArgumentException($"Inference dtype must be Float32, BFloat16 or Float16, got {dtype}.", nameof(dtype));
        // Module.to casts every parameter; snapshot the ones that stay fp32 first so they are restored exactly
        // rather than rounded through bf16.
        using var scope = NewDisposeScope();
        var norms = named_modules().Select(m => m.module).OfType<ClipLayerNorm>()
            .Select(n => (Norm: n, Weight: n.Weight.detach().to(ScalarType.Float32), Bias: n.Bias.detach().to(ScalarType.Float32)))
            .ToList();
        var scale = logit_scale.detach().to(ScalarType.Float32);
        var bias = logit_bias?.detach().to(ScalarType.Float32);

        this.to(dtype);
        foreach (var (norm, _, _) in norms) norm.to(ScalarType.Float32);
        KeepFp32(nameof(logit_scale));
        if (logit_bias is not null) KeepFp32(nameof(logit_bias));
        using (no_grad())
        {
            foreach (var (norm, weight, normBias) in norms)
            {
                norm.Weight.copy_(weight);
                norm.Bias.copy_(normBias);
            }
            logit_scale.copy_(scale);
            if (bias is not null) logit_bias!.copy_(bias);
        }
        return this;
    }

    /// <summary>
    /// Clamps <c>logit_scale</c> to [0, <paramref name="max"/>] in place, as open_clip's training loop does after
    /// each optimizer step (default ln 100, a maximum inverse temperature of 100).
    /// </summary>
    public void ClampLogitScale(double max = 4.605170185988092)
    {
        using (no_grad()) ScalarSafe.ClampInPlace(logit_scale, 0, max);
    }

    private void KeepFp32(string name)
    {
        var current = name == nameof(logit_scale) ? logit_scale : logit_bias!;
        if (current.dtype == ScalarType.Float32) return;
        Parameter replacement;
        using (no_grad())
        {
            replacement = new Parameter(current.to(ScalarType.Float32), current.requires_grad);
            // Callers may run inside a dispose scope; a registered parameter must outlive it.
            replacement.DetachFromDisposeScope();
        }
        current.Dispose();
        ConditionallyRegisterParameter(name, replacement);
        if (name == nameof(logit_scale)) logit_scale = replacement;
        else logit_bias = replacement;
    }

    private static Tensor Finish(Tensor features, bool normalize)
    {
        var result = features.to(ScalarType.Float32);
        return normalize ? F.normalize(result, dim: -1) : result;
    }
}
