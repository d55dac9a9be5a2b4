using System;
using static TorchSharp.torch;

namespace Microsoft.ML.Clip.Modeling;

/// <summary>
/// Matrix products with a dtype check first: in TorchSharp 0.107 <c>torch.matmul</c> on mixed dtypes
/// (fp32 × bf16) aborts the whole process instead of throwing, so every product between activations and
/// parameters goes through here and fails as a normal exception.
/// </summary>
internal static class SafeMatMul
{
    public static Tensor MatMul(Tensor a, Tensor b, string what)
    {
        if (a.dtype != b.dtype)
            throw new InvalidOperationException(
                $"{what}: operands have different dtypes ({a.dtype} and {b.dtype}). Cast inputs to the model dtype first.");
        return a.matmul(b);
    }
}
