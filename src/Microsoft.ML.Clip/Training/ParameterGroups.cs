using System.Collections.Generic;
using System.Linq;
using TorchSharp.Modules;

namespace Microsoft.ML.Clip.Training;

/// <summary>A named trainable parameter and the optimizer settings that apply to it.</summary>
/// <param name="Name">State-dict name (unique).</param>
/// <param name="Parameter">The tensor.</param>
/// <param name="WeightDecay">Decoupled weight decay for this parameter (0 for excluded ones).</param>
/// <param name="LearningRateScale">Multiplier of the scheduled learning rate (layer-wise decay, per-tower rates).</param>
internal sealed record OptimizedParameter(string Name, Parameter Parameter, double WeightDecay, double LearningRateScale = 1.0);

/// <summary>Which parameters get weight decay.</summary>
internal static class ParameterGroups
{
    /// <summary>
    /// open_clip's rule, plus embeddings: biases, normalization weights (every tensor with fewer than two
    /// dimensions), token/positional/class embeddings and the logit scale/bias are not decayed; decaying
    /// them shrinks quantities that have no reason to be small (a LayerNorm gain towards 0, the temperature).
    /// </summary>
    public static bool ExcludedFromWeightDecay(string name, Parameter parameter) =>
        parameter.dim() < 2 || name.Contains("embedding") || name.Contains("logit_");

    /// <summary>Assigns <paramref name="weightDecay"/> to every trainable parameter not excluded by <see cref="ExcludedFromWeightDecay"/>.</summary>
    public static List<OptimizedParameter> WithWeightDecay(IEnumerable<(string Name, Parameter Parameter)> parameters, double weightDecay) =>
        parameters.Where(p => p.Parameter.requires_grad)
                  .Select(p => new OptimizedParameter(p.Name, p.Parameter, ExcludedFromWeightDecay(p.Name, p.Parameter) ? 0 : weightDecay))
                  .ToList();
}
