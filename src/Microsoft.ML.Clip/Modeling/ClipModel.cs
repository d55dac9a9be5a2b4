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
/// <c>CLIP</c>, with the same state-dict names so open_clip checkpoints load without renaming: <c>visual.*</c>,
/// and at the top level the text tower (<c>token_embedding</c>, <c>positional_embedding</c>,
/// <c>transformer.resblocks.N.*</c>, <c>ln_final</c>, <c>text_projection</c>) and <c>logit_scale</c>
/// (plus <c>logit_bias</c> when <see cref="ClipConfig.InitLogitBias"/> is set).
/// </summary>
/// <remarks>
/// The text tower is laid out flat in this class rather than as a submodule because open_clip's <c>CLIP</c>
/// stores it that way; a submodule would prefix every name.
/// </remarks>
public sealed partial class ClipModel : nn.Module<Tensor, Tensor, ClipOutput>
{
    // Registration order = state-dict order. Field names are the state-dict names.
    private nn.Module<Tensor, Tensor> visual;
    private Transformer transformer;
    private Embedding token_embedding;
    private Parameter positional_embedding;
    private ClipLayerNorm ln_final;
    private Parameter text_projection;
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
        var text = config.Text;

        this.visual = visual ?? ImageTowers.Create(config.Vision, config.EmbedDim, config.QuickGelu, device, dtype);
        transformer = new Transformer(text.Width, text.Layers, text.Heads, text.MlpRatio, config.QuickGelu, device, dtype);
        token_embedding = nn.Embedding(text.VocabSize, text.Width, device: device, dtype: dtype);
        positional_embedding = new Parameter(empty([text.ContextLength, text.Width], type, device));
        ln_final = new ClipLayerNorm(text.Width, device: device, dtype: dtype);
        text_projection = new Parameter(empty([text.Width, config.EmbedDim], type, device));
        logit_scale = new Parameter(full(Array.Empty<long>(), config.InitLogitScale, type, device));
        logit_bias = config.InitLogitBias is double bias ? new Parameter(full(Array.Empty<long>(), bias, type, device)) : null;
        RegisterComponents();
        InitializeTextParameters();
        this.DetachFromDisposeScopes();
    }

    /// <summary>The architecture.</summary>
    public ClipConfig Config { get; }

    /// <summary>The image tower (<c>visual</c>).</summary>
    public nn.Module<Tensor, Tensor> Visual => visual;

    /// <summary>The prefix of the image tower's names in the model's state dict (<c>visual.</c>, as open_clip's).</summary>
    internal const string ImageTowerPrefix = nameof(visual) + ".";

    /// <summary>The text transformer blocks (<c>transformer</c>).</summary>
    internal Transformer TextTransformer => transformer;

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
        transformer.CheckpointActivations = text;
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

    private System.Collections.Generic.IEnumerable<MultiheadSelfAttention> AttentionLayers() =>
        modules().OfType<MultiheadSelfAttention>();

    /// <summary>dtype of the matrix weights (the dtype towers compute in).</summary>
    public ScalarType DType => text_projection.dtype;

    /// <summary>Device holding the parameters.</summary>
    public Device Device => text_projection.device;

    /// <summary>
    /// Re-draws the text tower as open_clip's <c>CLIP.init_parameters</c>: token embedding ~ N(0, 0.02),
    /// positional embedding ~ N(0, 0.01), attention in-projections ~ N(0, width^-½), output and MLP-out
    /// projections ~ N(0, width^-½·(2·layers)^-½), MLP-in ~ N(0, (2·width)^-½), text projection ~ N(0, width^-½).
    /// </summary>
    public void InitializeTextParameters()
    {
        double width = Config.Text.Width;
        double attnStd = Math.Pow(width, -0.5);
        double projStd = attnStd * Math.Pow(2.0 * Config.Text.Layers, -0.5);
        double fcStd = Math.Pow(2 * width, -0.5);
        using (no_grad())
        {
            nn.init.normal_(token_embedding.weight!, 0, 0.02);
            nn.init.normal_(positional_embedding, 0, 0.01);
            foreach (var block in transformer.Blocks)
            {
                nn.init.normal_(block.Attention.InProjWeight, 0, attnStd);
                nn.init.normal_(block.Attention.OutProj.weight!, 0, projStd);
                nn.init.normal_(block.Mlp.Fc.weight!, 0, fcStd);
                nn.init.normal_(block.Mlp.Proj.weight!, 0, projStd);
            }
            nn.init.normal_(text_projection, 0, attnStd);
        }
    }

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
    /// Text embeddings [N, embed_dim] as fp32 (open_clip <c>encode_text</c>): the final-LayerNorm output at
    /// each row's largest token id (the end-of-text token, as CLIP), times <c>text_projection</c>.
    /// </summary>
    /// <param name="tokens">Token ids [N, L] (int64 or int32), L ≤ context length, zero padded.</param>
    /// <param name="normalize">L2-normalise the embeddings.</param>
    public Tensor EncodeText(Tensor tokens, bool normalize = false)
    {
        using var scope = NewDisposeScope();
        var (pooled, _) = EncodeTextCore(tokens);
        var features = SafeMatMul.MatMul(pooled, text_projection, "text_projection");
        return Finish(features, normalize).MoveToOuterDisposeScope();
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
        var (pooled, all) = EncodeTextCore(tokens);
        pooled = SafeMatMul.MatMul(pooled, text_projection, "text_projection");
        if (projectTokens) all = SafeMatMul.MatMul(all, text_projection, "text_projection");
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

    private (Tensor Pooled, Tensor Tokens) EncodeTextCore(Tensor tokens)
    {
        if (tokens.dim() != 2)
            throw new ArgumentException($"Expected token ids of shape [N, L], got [{string.Join(", ", tokens.shape)}].", nameof(tokens));
        long n = tokens.shape[0], length = tokens.shape[1];
        if (length > Config.Text.ContextLength || length < 1)
            throw new ArgumentException($"Token sequences have length {length}; this model takes 1 to {Config.Text.ContextLength}.", nameof(tokens));
        if (tokens.dtype is not (ScalarType.Int64 or ScalarType.Int32))
            throw new ArgumentException($"Token ids must be Int64 or Int32, got {tokens.dtype}.", nameof(tokens));

        var ids = tokens.to(ScalarType.Int64, token_embedding.weight!.device);
        var embedded = token_embedding.forward(ids);
        var compute = embedded.dtype;
        var x = ResidualStream.Enter(embedded);
        x = ScalarSafe.Add(x, positional_embedding.narrow(0, 0, length).to(x.dtype));
        // Causal mask as open_clip: −∞ above the diagonal, 0 elsewhere, added to the attention scores.
        // Built per call on the activations' device and dtype (cheap: L × L) rather than kept as a buffer.
        var mask = ScalarSafe.Full([length, length], float.NegativeInfinity, x.dtype, x.device).triu_(1);
        x = transformer.forward(x, mask);
        x = ln_final.forward(x, compute); // in the model's dtype, for text_projection
        // Pool at the end-of-text token, which has the largest id (argmax picks the first occurrence).
        long width = x.shape[2];
        var eot = ids.argmax(-1).view(n, 1, 1).expand(n, 1, width);
        var pooled = x.gather(1, eot).squeeze(1);
        return (pooled, x);
    }

    private static Tensor Finish(Tensor features, bool normalize)
    {
        var result = features.to(ScalarType.Float32);
        return normalize ? F.normalize(result, dim: -1) : result;
    }
}
