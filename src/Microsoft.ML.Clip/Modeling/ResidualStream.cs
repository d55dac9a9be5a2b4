using System.Linq;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Clip.Modeling;

/// <summary>
/// The precision of a transformer tower's residual stream. A tower with bf16 (or fp16) weights computes its matrix
/// products in that dtype but keeps the residual stream — the running sum every block adds its attention and MLP
/// output to — in fp32, as PyTorch's autocast does (open_clip's mixed-precision inference and training): summed in bf16,
/// with its 8-bit significand, every block's addition rounds the whole stream again, and the error grows with depth
/// (ViT-B-32 in bf16, random weights: the lowest cosine of 64 text embeddings to fp32 rose from 0.999881 to 0.999937 with
/// an fp32 stream, of 32 image embeddings from 0.999939 to 0.999985). Each block's layer norms
/// read the fp32 stream and hand their output to the matrix products in the weights' dtype; the block's outputs (bf16)
/// are added to the fp32 stream. fp32 and fp64 towers are unaffected: their stream is already in their dtype.
/// </summary>
internal static class ResidualStream
{
    /// <summary>The stream's dtype for a tower whose activations enter as <paramref name="activations"/>.</summary>
    public static ScalarType DType(ScalarType activations) =>
        activations == ScalarType.Float64 ? ScalarType.Float64 : ScalarType.Float32;

    /// <summary>The dtype a block's layer computes in: that of its weights (read per call: casting a module replaces them).</summary>
    public static ScalarType ComputeDType(nn.Module layer) => layer.parameters().First().dtype;

    /// <summary><paramref name="x"/> (a tower's embedded input) in the stream's dtype.</summary>
    public static Tensor Enter(Tensor x) => x.to(DType(x.dtype));
}
