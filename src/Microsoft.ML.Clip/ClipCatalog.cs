using Microsoft.ML.Clip.Transforms;
using Microsoft.ML.Data;
using Microsoft.ML.Runtime;
using TorchSharp;

namespace Microsoft.ML.Clip;

/// <summary>Extension methods that add ClipMlNet's stages to ML.NET's catalogs.</summary>
public static class ClipCatalog
{
    /// <summary>
    /// Applies the linear map <c>y = weight·x + bias</c> to a float vector column, optionally scaling the
    /// result to unit L2 norm. The tensors are copied; the model zip stores them.
    /// </summary>
    /// <param name="catalog">The transforms catalog.</param>
    /// <param name="outputColumnName">Name of the output column, a vector of <c>weight.shape[0]</c> floats.</param>
    /// <param name="weight">The matrix, shape [outputSize, inputSize].</param>
    /// <param name="bias">Optional bias, shape [outputSize].</param>
    /// <param name="inputColumnName">Name of the input column, a vector of <c>weight.shape[1]</c> floats; defaults to <paramref name="outputColumnName"/>.</param>
    /// <param name="normalize">Scale each output vector to unit L2 norm.</param>
    /// <example>
    /// <code>
    /// var pipeline = mlContext.Transforms.Concatenate("Features", "A", "B")
    ///     .Append(mlContext.Transforms.ProjectLinear("Projected", weight, inputColumnName: "Features"));
    /// </code>
    /// </example>
    public static LinearProjectionEstimator ProjectLinear(this TransformsCatalog catalog, string outputColumnName,
        torch.Tensor weight, torch.Tensor? bias = null, string? inputColumnName = null, bool normalize = false)
    {
        var env = CatalogUtils.GetEnvironment(catalog);
        var transformer = new LinearProjectionTransformer(env, outputColumnName, inputColumnName ?? outputColumnName, weight, bias, normalize);
        return new LinearProjectionEstimator(env, transformer);
    }
}
