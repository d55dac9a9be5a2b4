using System;
using System.IO;
using Microsoft.ML.Clip.Evaluation;
using Microsoft.ML.Clip.Modeling;
using Microsoft.ML.Clip.Onnx;
using Microsoft.ML.Clip.Torch;
using static TorchSharp.torch;

namespace Microsoft.ML.Clip.Scoring;

/// <summary>
/// How a trained model compares images with texts, as its objective taught it: the features scoring encodes, the
/// similarity of every image to every text, and how similarities become zero-shot probabilities. An objective
/// supplies it (<see cref="Training.Objectives.ClipObjective.Scoring"/>); zero-shot classification, retrieval evaluation,
/// validation and the saved model use it, so a new similarity is one new subclass.
/// </summary>
public abstract class ClipScoring
{
    /// <summary>The scorings are the library's own (saved in zips by name): no subclasses outside it.</summary>
    private protected ClipScoring() { }

    /// <summary>CLIP's cosine of the pooled, normalised embeddings with a softmax over classes.</summary>
    public static ClipScoring GlobalCosine { get; } = new GlobalCosineScoring();

    /// <summary>SigLIP's cosine with independent per-class probabilities σ(scale · cos + bias); needs a model with a logit bias.</summary>
    public static ClipScoring SigmoidWithBias { get; } = new SigmoidScoring();

    /// <summary>FILIP's token-wise late interaction ½(s^I + s^T) over projected, normalised patch and text tokens.</summary>
    public static ClipScoring TokenWise { get; } = new TokenWiseScoring();

    /// <summary>The scoring a model's parameters imply when nothing else says: with a logit bias sigmoid, else cosine.</summary>
    public static ClipScoring For(ClipModel model) =>
        Check(model).LogitBias is null ? GlobalCosine : SigmoidWithBias;

    /// <summary>The name saved in model zips; <see cref="FromName"/> reads it back.</summary>
    public abstract string Name { get; }

    /// <summary>Scoring features of images [N, ...] (fp32, on the CPU) from normalised pixels on the model's device.</summary>
    public abstract Tensor EncodeImages(ClipModel model, Tensor pixels);

    /// <summary>Scoring features of texts [N, ...] (fp32, on the CPU) from token ids on the model's device.</summary>
    public abstract Tensor EncodeTexts(ClipModel model, Tensor tokens);

    /// <summary>Unscaled similarities [I, T] of encoded images to encoded texts.</summary>
    public abstract Tensor Similarity(Tensor images, Tensor texts);

    /// <summary>Image→text and text→image retrieval of encoded pairs (row i of each is a pair).</summary>
    internal virtual RetrievalMetrics EvaluateRetrieval(Tensor images, Tensor texts, int chunkSize = 1024) =>
        RetrievalEvaluator.Evaluate(images, texts, chunkSize, Similarity);

    /// <summary>
    /// Prepares zero-shot classes once: <paramref name="classEmbeddings"/> [K, D] are CLIP's prompt-ensembled class
    /// embeddings (what a zero-shot model saves), <paramref name="promptTokens"/> [K·T, L] the prompts, class-major
    /// (prompt c·T + t is template t of class c), on the model's device.
    /// </summary>
    internal virtual ZeroShotClasses PrepareZeroShot(ClipModel model, Tensor classEmbeddings, Tensor promptTokens, int templates) =>
        new EmbeddingClasses(this, classEmbeddings);

    /// <summary>Probabilities [N, K] from unscaled similarities [N, K]: a softmax of the scaled similarities.</summary>
    internal virtual Tensor Probabilities(ClipModel model, Tensor similarities)
    {
        using var scope = NewDisposeScope();
        var scale = HostTransfer.ToCpu(model.LogitScale.detach().to(ScalarType.Float32)).exp();
        return (scale * similarities).softmax(1).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Why models scored this way cannot be exported to ONNX as two embedding encoders, or null when they can (the
    /// scoring compares one embedding per image and per text).
    /// </summary>
    internal virtual string? OnnxExportLimitation => null;

    /// <summary>
    /// Emits <see cref="Probabilities"/> into an ONNX graph: unscaled similarities [N, K] (fp32) → probabilities [N, K].
    /// </summary>
    internal virtual string EmitOnnxProbabilities(OnnxGraph graph, ClipModel model, string similarities)
    {
        var scaled = graph.Mul(similarities, graph.Scalar(LogitScaleExp(model), "logit_scale_exp"), "logits");
        return graph.Op("Softmax", "probabilities", [scaled], new OnnxAttribute("axis", -1L));
    }

    /// <summary>exp(logit_scale) in fp32, as <see cref="Probabilities"/> computes it.</summary>
    internal static float LogitScaleExp(ClipModel model)
    {
        using var scale = model.LogitScale.detach().to(ScalarType.Float32).cpu().exp();
        return scale.item<float>();
    }

    /// <summary>A built-in scoring by its saved <see cref="Name"/>.</summary>
    public static ClipScoring FromName(string name) => name switch
    {
        GlobalCosineScoring.SavedName => GlobalCosine,
        SigmoidScoring.SavedName => SigmoidWithBias,
        TokenWiseScoring.SavedName => TokenWise,
        _ => throw new InvalidDataException($"The model declares the scoring '{name}', which this library does not know."),
    };

    /// <summary>
    /// The code older versions saved (<c>ClipSimilarityKind</c>: 0 the model's default, 1 FILIP's token-wise), still
    /// written beside the name so that they keep reading newer zips; 0 for scorings they did not know.
    /// </summary>
    internal virtual int LegacySimilarityCode => 0;

    /// <summary>The scoring of a zip written before scorings had names.</summary>
    internal static ClipScoring FromLegacyCode(int code, ClipModel model) => code switch
    {
        0 => For(model),
        1 => TokenWise,
        _ => throw new InvalidDataException($"The model declares an unknown similarity ({code})."),
    };

    private static ClipModel Check(ClipModel model)
    {
        ArgumentNullException.ThrowIfNull(model);
        return model;
    }

    /// <summary>Classes as one embedding each, compared with the images' scoring features by a dot product.</summary>
    private sealed class EmbeddingClasses(ClipScoring scoring, Tensor classEmbeddings) : ZeroShotClasses
    {
        private readonly Tensor _classes = HostTransfer.ToCpu(classEmbeddings.to(ScalarType.Float32)).contiguous().DetachFromDisposeScope();

        public override Tensor Similarities(ClipModel model, Tensor pixels)
        {
            using var scope = NewDisposeScope();
            return scoring.EncodeImages(model, pixels).matmul(_classes.t()).MoveToOuterDisposeScope();
        }
    }
}

/// <summary>Zero-shot classes prepared by a <see cref="ClipScoring"/>.</summary>
internal abstract class ZeroShotClasses
{
    /// <summary>Unscaled similarities [N, K] (fp32, on the CPU) of the images <paramref name="pixels"/> to the classes.</summary>
    public abstract Tensor Similarities(ClipModel model, Tensor pixels);
}
