using System;
using System.Collections.Generic;
using System.Linq;

namespace Microsoft.ML.Clip;

/// <summary>
/// A labelled image set whose zero-shot accuracy <c>ClipPretrain</c> watches during training
/// (<see cref="ClipPretrainOptions.ZeroShotEvaluations"/>): each image is classified among <see cref="ClassNames"/> by the
/// library's zero-shot stage (<c>ClipZeroShot</c>: prompt-ensembled class embeddings from <see cref="Templates"/>, the
/// model's scoring), and the accuracy is the share whose predicted class name equals the image's label.
/// </summary>
public sealed class ClipZeroShotEvaluationSet
{
    /// <summary>A set called <paramref name="name"/> of the images and labels in <paramref name="data"/>.</summary>
    /// <param name="name">What logs, progress reports and the training report call the set (unique among the watched sets).</param>
    /// <param name="data">Images (<see cref="ImageColumnName"/>) and their class names (<see cref="LabelColumnName"/>, text).</param>
    /// <param name="classNames">The classes, at least two; every label must be one of them.</param>
    /// <param name="templates">Prompt templates with <c>{}</c> for the class name; null: <see cref="PromptTemplates.Simple"/>.</param>
    public ClipZeroShotEvaluationSet(string name, IDataView data, IReadOnlyList<string> classNames, IReadOnlyList<string>? templates = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        ArgumentNullException.ThrowIfNull(data);
        ArgumentNullException.ThrowIfNull(classNames);
        Name = name;
        Data = data;
        ClassNames = classNames.ToArray();
        Templates = (templates ?? PromptTemplates.Simple).ToArray();
    }

    /// <summary>The set's name in logs and reports.</summary>
    public string Name { get; }

    /// <summary>The labelled images.</summary>
    public IDataView Data { get; }

    /// <summary>The classes the images are classified among, in score order.</summary>
    public IReadOnlyList<string> ClassNames { get; }

    /// <summary>Prompt templates (<c>{}</c> = class name) whose text embeddings are averaged per class.</summary>
    public IReadOnlyList<string> Templates { get; }

    /// <summary>Image column (MLImage, encoded bytes or preprocessed pixels); the default <c>Image</c> also finds the loaders' <c>ImageBytes</c>.</summary>
    public string ImageColumnName { get; init; } = "Image";

    /// <summary>Label column: text, each value one of <see cref="ClassNames"/>.</summary>
    public string LabelColumnName { get; init; } = "Label";
}

/// <summary>How <c>ClipPretrain</c> chooses the α of a weight-space ensemble among several (<see cref="ClipWeightEnsembleOptions.Alphas"/>).</summary>
public enum ClipEnsembleSelection
{
    /// <summary>The highest mean zero-shot accuracy over <see cref="ClipPretrainOptions.ZeroShotEvaluations"/>.</summary>
    ZeroShot,

    /// <summary>The highest mean of image→text and text→image Recall@1 on the validation pairs.</summary>
    ValidationRetrieval,
}

/// <summary>
/// WiSE-FT in <c>ClipPretrain</c>: instead of the fine-tuned weights θ₁, return <c>(1 − α)·θ₀ + α·θ₁</c> with θ₀ the
/// <see cref="ClipPretrainOptions.InitialModel"/>'s (see <see cref="Modeling.WeightInterpolation"/>), which keeps much of
/// the initial model's accuracy outside the fine-tuning data.
/// </summary>
public sealed class ClipWeightEnsembleOptions
{
    /// <summary>
    /// The α to try (1: the fine-tuned model, 0: the initial one). One value is used as given; among several, the one
    /// <see cref="SelectBy"/> scores best is returned and all scores are in the training report. Default: 0.5.
    /// </summary>
    public IReadOnlyList<double> Alphas { get; init; } = [0.5];

    /// <summary>What chooses among several α: the watched zero-shot sets (default) or validation retrieval.</summary>
    public ClipEnsembleSelection SelectBy { get; init; } = ClipEnsembleSelection.ZeroShot;
}
