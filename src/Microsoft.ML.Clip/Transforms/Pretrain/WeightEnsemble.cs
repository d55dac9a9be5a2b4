using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using Microsoft.ML.Clip.Evaluation;
using Microsoft.ML.Clip.Training;
using Microsoft.ML.Runtime;

namespace Microsoft.ML.Clip.Transforms.Pretrain;

/// <summary>ClipPretrain's WiSE-FT step: the weight-space ensembles of the initial and the fine-tuned model, one chosen.</summary>
internal static class WeightEnsemble
{
    /// <summary>
    /// The ensemble <c>(1 − α)·initial + α·fine-tuned</c> for the α of <paramref name="options"/> that scores best (the
    /// only one when one is given), recorded in <paramref name="report"/>. Every process of a data-parallel job scores
    /// the same candidates on the same data, so all choose the same α. The fine-tuned model is released.
    /// </summary>
    public static ClipModelBundle Choose(ClipModelBundle fineTuned, ClipModelBundle initial, ClipWeightEnsembleOptions options, ClipPretrainReport report,
        ZeroShotWatcher? watcher, Func<ClipModelBundle, RetrievalMetrics>? validate, IChannel log)
    {
        var alphas = options.Alphas;
        ClipModelBundle? best = null;
        double bestScore = double.NegativeInfinity, bestAlpha = double.NaN;
        foreach (double alpha in alphas)
        {
            var candidate = ClipModelBundle.Interpolate(initial, fineTuned, alpha);
            candidate.Model.eval();
            double score = alphas.Count == 1 ? double.NaN : Score(candidate, options.SelectBy, watcher, validate);
            report.WeightEnsemble.Add((alpha, score));
            if (alphas.Count > 1)
                log.Info(string.Format(CultureInfo.InvariantCulture, "Weight-space ensemble α = {0}: {1} {2:P2}.", alpha,
                    options.SelectBy == ClipEnsembleSelection.ZeroShot ? "mean zero-shot accuracy" : "mean validation Recall@1", score));
            if (best is null || score > bestScore)
            {
                best?.Dispose(); // the bundle: its model and the bf16 copy scoring may have made
                (best, bestScore, bestAlpha) = (candidate, score, alpha);
            }
            else
            {
                candidate.Dispose();
            }
        }
        fineTuned.Dispose();
        report.ChosenAlpha = bestAlpha;
        log.Info(string.Format(CultureInfo.InvariantCulture, "Returning the weight-space ensemble (1 − α)·initial + α·fine-tuned with α = {0}.", bestAlpha));
        return best!;
    }

    private static double Score(ClipModelBundle candidate, ClipEnsembleSelection selectBy, ZeroShotWatcher? watcher, Func<ClipModelBundle, RetrievalMetrics>? validate)
    {
        if (selectBy == ClipEnsembleSelection.ZeroShot)
            return (watcher ?? throw new InvalidOperationException("No zero-shot sets to choose α with.")).Evaluate(candidate).Average(s => s.Accuracy);
        var metrics = (validate ?? throw new InvalidOperationException("No validation pairs to choose α with."))(candidate);
        return (metrics.ImageToText.RecallAt1 + metrics.TextToImage.RecallAt1) / 2;
    }
}
