using System;
using Microsoft.ML.Clip.Torch;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Microsoft.ML.Clip.Modeling;

/// <summary>
/// The CLIP text tower as open_clip's <c>TextTransformer</c>: <c>token_embedding</c>, <c>positional_embedding</c>,
/// <c>transformer.resblocks.N</c>, <c>ln_final</c> and <c>text_projection</c> (a [width, embed] matrix, or a Linear
/// layer with bias when <see cref="TextConfig.ProjectionBias"/>), with the config's mask, pooling, activation and
/// LayerNorm epsilon.
/// </summary>
/// <remarks>
/// <see cref="ClipModel"/> registers this module as <c>text</c> (open_clip's <c>CustomTextCLIP</c>) or registers its
/// parts at its own top level (<c>CLIP</c>). In the second case the model, not this module, holds the two bare
/// parameters, and <c>Module.to(dtype)</c> replaces them there: so they are always read from the
/// module that registered them (<see cref="Owner"/>), never kept in fields.
/// </remarks>
internal sealed partial class TextTransformer : nn.Module<Tensor, Tensor>, IDescribedTower
{
    private readonly Embedding token_embedding;
    private readonly Transformer transformer;
    private readonly ClipLayerNorm ln_final;
    private readonly Linear? _projectionLayer;

    /// <summary>Creates a freshly initialised tower (open_clip's initialisation).</summary>
    /// <param name="config">The tower.</param>
    /// <param name="embedDim">The joint embedding size.</param>
    /// <param name="activation">The MLP activation.</param>
    /// <param name="device">Parameter device.</param>
    /// <param name="dtype">Parameter dtype.</param>
    public TextTransformer(TextConfig config, int embedDim, MlpActivation activation, Device? device, ScalarType? dtype)
        : base(nameof(TextTransformer))
    {
        Config = config;
        var type = dtype ?? ScalarType.Float32;
        // Created in the order the random draws of earlier versions followed (blocks, then the embedding), so a seed
        // gives the weights it gave before.
        transformer = new Transformer(config.Width, config.Layers, config.Heads, config.MlpRatio, activation, device, dtype, config.LayerNormEps);
        token_embedding = nn.Embedding(config.VocabSize, config.Width, device: device, dtype: dtype);
        ln_final = new ClipLayerNorm(config.Width, config.LayerNormEps, device, dtype);
        // Registration order is the state-dict order: open_clip's.
        register_module(nameof(token_embedding), token_embedding);
        register_parameter("positional_embedding", new Parameter(empty([config.ContextLength, config.Width], type, device)));
        register_module(nameof(transformer), transformer);
        register_module(nameof(ln_final), ln_final);
        if (config.ProjectionBias)
        {
            _projectionLayer = nn.Linear(config.Width, embedDim, hasBias: true, device: device, dtype: dtype);
            register_module("text_projection", _projectionLayer);
        }
        else
        {
            register_parameter("text_projection", new Parameter(empty([config.Width, embedDim], type, device)));
        }
        Owner = this;
        InitializeParameters();
        this.DetachFromDisposeScopes();
    }

    /// <summary>The tower's architecture.</summary>
    public TextConfig Config { get; }

    /// <summary>The module holding <c>positional_embedding</c> and a matrix <c>text_projection</c>: this one, or the model that registered the parts flat.</summary>
    public nn.Module Owner { get; set; }

    /// <summary>Token embedding (<c>token_embedding</c>).</summary>
    public Embedding TokenEmbedding => token_embedding;

    /// <summary>The blocks (<c>transformer</c>).</summary>
    public Transformer Transformer => transformer;

    /// <summary>Final norm (<c>ln_final</c>).</summary>
    public ClipLayerNorm FinalNorm => ln_final;

    /// <summary>The projection as a Linear layer with bias, or null when it is a matrix.</summary>
    public Linear? ProjectionLayer => _projectionLayer;

    /// <summary>Positional embedding [context, width].</summary>
    public Parameter PositionalEmbedding => Owner.get_parameter("positional_embedding")!;

    /// <summary>The projection matrix [width, embed], or null when it is a Linear layer.</summary>
    public Parameter? ProjectionMatrix => _projectionLayer is null ? Owner.get_parameter("text_projection") : null;

    /// <summary>Everything is registered in the constructor (the bare parameters are not kept in fields).</summary>
    protected override void RegisterComponents() { }

    /// <inheritdoc/>
    public TowerLayout Layout => TowerLayout.Sequential(["token_embedding.", "positional_embedding"], "transformer.resblocks.",
        Config.Layers, ["ln_final.", "text_projection", "text_projection."]);

    /// <summary>
    /// Re-draws the parameters as open_clip's <c>TextTransformer.init_parameters</c>: token embedding ~ N(0, 0.02),
    /// positional embedding ~ N(0, 0.01), attention in-projections ~ N(0, width^-½), output and MLP-out projections ~
    /// N(0, width^-½·(2·layers)^-½), MLP-in ~ N(0, (2·width)^-½), text projection ~ N(0, width^-½) (its bias zero).
    /// </summary>
    public void InitializeParameters()
    {
        double width = Config.Width;
        double attnStd = Math.Pow(width, -0.5);
        double projStd = attnStd * Math.Pow(2.0 * Config.Layers, -0.5);
        double fcStd = Math.Pow(2 * width, -0.5);
        using (no_grad())
        {
            nn.init.normal_(token_embedding.weight!, 0, 0.02);
            nn.init.normal_(PositionalEmbedding, 0, 0.01);
            foreach (var block in transformer.Blocks)
            {
                var attention = (MultiheadSelfAttention)block.Attention;
                var mlp = (Mlp)block.Mlp;
                nn.init.normal_(attention.InProjWeight, 0, attnStd);
                nn.init.normal_(attention.OutProj.weight!, 0, projStd);
                nn.init.normal_(mlp.Fc.weight!, 0, fcStd);
                nn.init.normal_(mlp.Proj.weight!, 0, projStd);
            }
            if (_projectionLayer is not null)
            {
                nn.init.normal_(_projectionLayer.weight!, 0, attnStd);
                nn.init.zeros_(_projectionLayer.bias!);
            }
            else
            {
                nn.init.normal_(ProjectionMatrix!, 0, attnStd);
            }
        }
    }

    /// <summary>Projected pooled text features [N, embed] in the tower's dtype.</summary>
    public override Tensor forward(Tensor tokens)
    {
        using var scope = NewDisposeScope();
        var (pooled, _) = Encode(tokens);
        return Project(pooled).MoveToOuterDisposeScope();
    }

    /// <summary>Pooled features and every position's features [N, L, width] after <c>ln_final</c>, before the projection.</summary>
    public (Tensor Pooled, Tensor Tokens) Encode(Tensor tokens)
    {
        if (tokens.dim() != 2)
            throw new ArgumentException($"Expected token ids of shape [N, L], got [{string.Join(", ", tokens.shape)}].", nameof(tokens));
        long n = tokens.shape[0], length = tokens.shape[1];
        if (length > Config.ContextLength || length < 1)
            throw new ArgumentException($"Token sequences have length {length}; this model takes 1 to {Config.ContextLength}.", nameof(tokens));
        if (tokens.dtype is not (ScalarType.Int64 or ScalarType.Int32))
            throw new ArgumentException($"Token ids must be Int64 or Int32, got {tokens.dtype}.", nameof(tokens));

        var ids = tokens.to(ScalarType.Int64, token_embedding.weight!.device);
        var embedded = token_embedding.forward(ids);
        var compute = embedded.dtype;
        var x = ResidualStream.Enter(embedded);
        x = ScalarSafe.Add(x, PositionalEmbedding.narrow(0, 0, length).to(x.dtype));
        // Causal mask as open_clip: −∞ above the diagonal, 0 elsewhere, added to the attention scores.
        // Built per call on the activations' device, in the dtype the attention scores have (the tower's, not the fp32
        // residual stream's: 0 and −∞ are exact in both), rather than kept as a buffer (cheap: L × L).
        var mask = Config.CausalMask ? ScalarSafe.Full([length, length], float.NegativeInfinity, compute, x.device).triu_(1) : null;
        x = transformer.forward(x, mask);
        x = ln_final.forward(x, compute); // in the tower's dtype, for text_projection
        var pooled = Config.Pooling switch
        {
            TextPooling.Last => x.select(1, length - 1),
            TextPooling.First => x.select(1, 0),
            // The end-of-text token has the largest id (argmax picks the first occurrence).
            _ => x.gather(1, ids.argmax(-1).view(n, 1, 1).expand(n, 1, x.shape[2])).squeeze(1),
        };
        return (pooled, x);
    }

    /// <summary>Applies <c>text_projection</c> to features [..., width].</summary>
    public Tensor Project(Tensor features) =>
        _projectionLayer is not null ? _projectionLayer.forward(features) : SafeMatMul.MatMul(features, ProjectionMatrix!, "text_projection");
}
