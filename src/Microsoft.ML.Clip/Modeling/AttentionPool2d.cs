using System;
using Microsoft.ML.Clip.Torch;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace Microsoft.ML.Clip.Modeling;

/// <summary>
/// The attention pooling head of OpenAI's ModifiedResNet: the feature map [N, C, H, W] becomes H·W tokens, their
/// mean is prepended as a query token, a learned positional embedding [(H·W)+1, C] is added, and the mean token
/// attends over all tokens with multi-head attention (separate q/k/v projections, output projection
/// <c>c_proj</c>). Returns the mean token's output [N, outputDim].
/// </summary>
/// <remarks>
/// Numerically this is open_clip's <c>F.multi_head_attention_forward(x, x, x, use_separate_proj_weight=True, ...)[0]</c>:
/// only the first query row is kept there, so only that row is computed here. Parameter names are open_clip's:
/// <c>positional_embedding</c>, <c>k_proj</c>, <c>q_proj</c>, <c>v_proj</c>, <c>c_proj</c>.
/// </remarks>
internal sealed partial class AttentionPool2d : Module<Tensor, Tensor>
{
    private readonly Parameter positional_embedding;
    private readonly Linear k_proj;
    private readonly Linear q_proj;
    private readonly Linear v_proj;
    private readonly Linear c_proj;

    /// <summary>Creates the pooling head.</summary>
    /// <param name="spacialDim">Side of the (square) feature map it pools; the positional embedding has spacialDim²+1 rows.</param>
    /// <param name="embedDim">Channels of the feature map.</param>
    /// <param name="numHeads">Attention heads; must divide <paramref name="embedDim"/>.</param>
    /// <param name="outputDim">Output features (defaults to <paramref name="embedDim"/>).</param>
    /// <param name="name">Module name.</param>
    public AttentionPool2d(int spacialDim, int embedDim, int numHeads, int? outputDim = null, string name = "AttentionPool2d") : base(name)
    {
        if (spacialDim <= 0) throw new ArgumentOutOfRangeException(nameof(spacialDim), spacialDim, "must be positive");
        if (embedDim <= 0) throw new ArgumentOutOfRangeException(nameof(embedDim), embedDim, "must be positive");
        if (numHeads <= 0 || embedDim % numHeads != 0)
            throw new ArgumentException($"The number of heads ({numHeads}) must be positive and divide the embedding width ({embedDim}).", nameof(numHeads));
        if (outputDim is <= 0) throw new ArgumentOutOfRangeException(nameof(outputDim), outputDim, "must be positive");

        SpacialDim = spacialDim;
        EmbedDim = embedDim;
        NumHeads = numHeads;
        OutputDim = outputDim ?? embedDim;

        // A Parameter made from a fresh tensor joins the caller's dispose scope (if any): detach it so that the
        // module outlives the scope it is built in, as TorchSharp's own layers do.
        using (no_grad())
            positional_embedding = Parameter(randn(spacialDim * spacialDim + 1, embedDim).div_(Math.Sqrt(embedDim)));
        positional_embedding.DetachFromDisposeScope();
        k_proj = Linear(embedDim, embedDim);
        q_proj = Linear(embedDim, embedDim);
        v_proj = Linear(embedDim, embedDim);
        c_proj = Linear(embedDim, OutputDim);

        RegisterComponents();
    }

    /// <summary>Side of the feature map this head expects.</summary>
    public int SpacialDim { get; }

    /// <summary>Channels of the feature map.</summary>
    public int EmbedDim { get; }

    /// <summary>Attention heads.</summary>
    public int NumHeads { get; }

    /// <summary>Output features.</summary>
    public int OutputDim { get; }

    /// <summary>Gives the q/k/v/c projection weights open_clip's initialisation: normal with std = embedDim^-0.5.</summary>
    internal void ResetProjectionWeights()
    {
        using var _ = no_grad();
        double std = 1.0 / Math.Sqrt(EmbedDim);
        foreach (var projection in new[] { q_proj, k_proj, v_proj, c_proj })
            init.normal_(projection.weight!, 0.0, std);
    }

    /// <inheritdoc />
    public override Tensor forward(Tensor x)
    {
        if (x.dim() != 4)
            throw new ArgumentException($"AttentionPool2d expects a feature map [N, C, H, W]; got [{string.Join(", ", x.shape)}].", nameof(x));
        long n = x.shape[0], c = x.shape[1], tokensCount = x.shape[2] * x.shape[3] + 1;
        if (c != EmbedDim || tokensCount != positional_embedding.shape[0])
            throw new ArgumentException(
                $"AttentionPool2d was built for {EmbedDim}×{SpacialDim}×{SpacialDim} feature maps; got " +
                $"{c}×{x.shape[2]}×{x.shape[3]} (check the input image size).", nameof(x));

        using var scope = NewDisposeScope();
        long heads = NumHeads, headDim = EmbedDim / NumHeads;

        var tokens = x.flatten(2).transpose(1, 2);                                  // [N, HW, C]
        tokens = cat(new[] { tokens.mean(new long[] { 1 }, keepdim: true), tokens }, 1); // [N, HW+1, C]
        tokens = ScalarSafe.Add(tokens, positional_embedding.to(tokens.dtype));

        // Only the mean token's query is needed (open_clip keeps row 0 of the attention output).
        var q = q_proj.call(tokens.narrow(1, 0, 1)).view(n, 1, heads, headDim).transpose(1, 2); // [N, h, 1, d]
        var k = k_proj.call(tokens).view(n, tokensCount, heads, headDim).transpose(1, 2);      // [N, h, L, d]
        var v = v_proj.call(tokens).view(n, tokensCount, heads, headDim).transpose(1, 2);      // [N, h, L, d]

        q = ScalarSafe.Div(q, Math.Sqrt(headDim));
        var weights = matmul(q, k.transpose(-2, -1)).softmax(-1);  // [N, h, 1, L]
        var pooled = matmul(weights, v).reshape(n, EmbedDim);     // [N, h, 1, d] -> [N, C]
        return c_proj.call(pooled).MoveToOuterDisposeScope();
    }
}
