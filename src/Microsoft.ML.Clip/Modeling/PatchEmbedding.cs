using Microsoft.ML.Clip.Modeling.Kernels;
using Microsoft.ML.Clip.Onnx;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Clip.Modeling;

/// <summary>
/// timm's <c>PatchEmbed</c>: a convolution with bias whose kernel and stride are the patch size (<c>proj</c>), its
/// output flattened to tokens. Maps pixels [N, 3, S, S] to [N, (S/p)², width].
/// </summary>
internal sealed class PatchEmbedding : nn.Module<Tensor, Tensor>
{
    private readonly CheckedConv2d proj;

    /// <summary>Creates the embedding of <paramref name="patchSize"/>-pixel patches into <paramref name="width"/> features.</summary>
    public PatchEmbedding(int patchSize, long width, Device? device, ScalarType? dtype) : base(nameof(PatchEmbedding))
    {
        proj = new CheckedConv2d(3, width, patchSize, stride: patchSize, hasBias: true, device: device, dtype: dtype);
        RegisterComponents();
    }

    /// <summary>The convolution.</summary>
    public CheckedConv2d Proj => proj;

    /// <summary>Pixels in the convolution's dtype and device → tokens [N, P, width].</summary>
    public override Tensor forward(Tensor pixels)
    {
        using var grid = proj.forward(pixels.to(proj.Weight.dtype, proj.Weight.device)); // [N, width, g, g]
        return grid.flatten(2).transpose(1, 2);
    }

    /// <summary>Emits the convolution and the flattening: [N, 3, S, S] → [N, P, width].</summary>
    public string EmitOnnx(OnnxGraph graph, string pixels, string name)
    {
        var x = graph.Conv(pixels, proj.Weight, proj.Bias, proj.Stride, proj.Padding, name + "_proj");
        return graph.Transpose(graph.Reshape(x, name + "_flat", 0, proj.Weight.shape[0], -1), name, 0, 2, 1);
    }
}
