using System;
using System.Collections.Generic;
using System.Linq;
using Microsoft.ML.Clip.Tokenization;
using static TorchSharp.torch;

namespace Microsoft.ML.Clip.Tests;

/// <summary>SigLIP's zero-shot scores recomputed by hand: σ(exp(logit_scale)·cos(image, class prompt) + logit_bias).</summary>
internal static class SigmoidZeroShot
{
    /// <summary>
    /// The worst |score − σ(t·cos + b)| over <paramref name="scores"/> (one row per image, one column per class), the worst
    /// |Σ scores − 1| of a row (a softmax would make it 0), and how many rows score their label highest.
    /// </summary>
    public static (double MaxError, double MaxSumDeviation, int Correct) Check(ClipModelBundle bundle, IReadOnlyList<string> classes,
        string template, float[][] scores, float[][] images, string[] labels)
    {
        float[][] classEmbeddings;
        using (var scope = NewDisposeScope())
        using (no_grad())
        {
            var tokens = bundle.Tokenizer.EncodeBatch(classes.Select(c => (string?)template.Replace("{}", c)).ToList(), bundle.ContextLength);
            var text = bundle.Model.EncodeText(tokens, normalize: true);
            classEmbeddings = Enumerable.Range(0, classes.Count).Select(i => text[i].data<float>().ToArray()).ToArray();
        }
        double scale = Math.Exp(bundle.Model.LogitScale.item<float>()), bias = bundle.Model.LogitBias!.item<float>();
        double maxError = 0, maxSumDeviation = 0;
        int correct = 0;
        for (int i = 0; i < scores.Length; i++)
        {
            for (int k = 0; k < classes.Count; k++)
            {
                double cos = images[i].Zip(classEmbeddings[k]).Sum(p => (double)p.First * p.Second);
                maxError = Math.Max(maxError, Math.Abs(1 / (1 + Math.Exp(-(scale * cos + bias))) - scores[i][k]));
            }
            maxSumDeviation = Math.Max(maxSumDeviation, Math.Abs(scores[i].Sum() - 1));
            if (classes[Array.IndexOf(scores[i], scores[i].Max())] == labels[i]) correct++;
        }
        return (maxError, maxSumDeviation, correct);
    }
}
