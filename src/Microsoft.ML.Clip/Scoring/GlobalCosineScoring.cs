using Microsoft.ML.Clip.Evaluation;
using Microsoft.ML.Clip.Modeling;
using Microsoft.ML.Clip.Onnx;
using Microsoft.ML.Clip.Torch;
using static TorchSharp.torch;

namespace Microsoft.ML.Clip.Scoring;

/// <summary>CLIP's scoring: the cosine of the pooled, L2-normalised embeddings; a softmax over zero-shot classes.</summary>
internal class GlobalCosineScoring : ClipScoring
{
    internal const string SavedName = "global-cosine";

    public override string Name => SavedName;

    public override Tensor EncodeImages(ClipModel model, Tensor pixels)
    {
        using var scope = NewDisposeScope();
        return HostTransfer.ToCpu(model.EncodeImage(pixels, normalize: true).to(ScalarType.Float32)).MoveToOuterDisposeScope();
    }

    public override Tensor EncodeTexts(ClipModel model, Tensor tokens)
    {
        using var scope = NewDisposeScope();
        return HostTransfer.ToCpu(model.EncodeText(tokens, normalize: true).to(ScalarType.Float32)).MoveToOuterDisposeScope();
    }

    public override Tensor Similarity(Tensor images, Tensor texts)
    {
        using var scope = NewDisposeScope();
        return images.to(ScalarType.Float32).mm(texts.to(ScalarType.Float32).t()).MoveToOuterDisposeScope();
    }

    /// <summary>The evaluator's own dot product (fp32, or fp64 near ties), as for embedding columns.</summary>
    internal override RetrievalMetrics EvaluateRetrieval(Tensor images, Tensor texts, int chunkSize = 1024) =>
        RetrievalEvaluator.Evaluate(images, texts, chunkSize);
}

/// <summary>SigLIP's scoring: the cosine, with independent per-class probabilities σ(scale · cos + bias).</summary>
internal sealed class SigmoidScoring : GlobalCosineScoring
{
    internal new const string SavedName = "sigmoid-with-bias";

    public override string Name => SavedName;

    /// <summary>
    /// Every image–class pair scored independently, so the probabilities need not sum to one: a softmax would discard
    /// the bias the model learned.
    /// </summary>
    internal override Tensor Probabilities(ClipModel model, Tensor similarities)
    {
        if (model.LogitBias is not { } bias)
            throw new System.InvalidOperationException("Sigmoid scoring needs a model with a logit bias (trained with SigLIP).");
        using var scope = NewDisposeScope();
        var parameters = HostTransfer.ToCpu(stack([model.LogitScale.detach(), bias.detach()]).to(ScalarType.Float32)); // one copy for both
        var logits = parameters[0].exp() * similarities;
        return ScalarSafe.Add(logits, parameters[1]).sigmoid().MoveToOuterDisposeScope();
    }

    internal override string EmitOnnxProbabilities(OnnxGraph graph, ClipModel model, string similarities)
    {
        if (model.LogitBias is not { } bias)
            throw new System.InvalidOperationException("Sigmoid scoring needs a model with a logit bias (trained with SigLIP).");
        var scaled = graph.Mul(similarities, graph.Scalar(LogitScaleExp(model), "logit_scale_exp"), "logits");
        var biased = graph.Add(scaled, graph.Scalar(bias.detach().to(ScalarType.Float32).item<float>(), "logit_bias"), "biased_logits");
        return graph.Op("Sigmoid", "probabilities", [biased]);
    }
}
