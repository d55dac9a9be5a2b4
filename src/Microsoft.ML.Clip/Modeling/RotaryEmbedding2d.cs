using Microsoft.ML.Clip.Torch;
using static TorchSharp.torch;

namespace Microsoft.ML.Clip.Modeling;

/// <summary>
/// EVA02's 2-D rotary position embedding (timm's <c>RotaryEmbeddingCat</c> with <c>in_pixels=False</c>): each patch
/// at grid row y and column x rotates pairs of a head's features by angles <c>y'·f_i</c> (the first half) and
/// <c>x'·f_i</c> (the second), with <c>f_i = 10000^(−i/(D/4))</c> for i &lt; D/4 and the coordinates rescaled to the
/// pretraining grid, <c>y' = y / grid · ref</c> (<c>ref_feat_shape</c>). The tables are computed, not stored: they
/// are not in the state dict.
/// </summary>
internal static class RotaryEmbedding2d
{
    private const double Temperature = 10000;

    /// <summary>
    /// The tables [grid², 2·headWidth] as <c>[sin | cos]</c>, each angle repeated for the two features of its pair,
    /// computed in fp32 in timm's order of operations.
    /// </summary>
    /// <param name="grid">Patches per side.</param>
    /// <param name="referenceGrid">The pretraining grid the coordinates are rescaled to (timm <c>ref_feat_shape</c>).</param>
    /// <param name="headWidth">Features per head (a multiple of 4).</param>
    /// <param name="device">Where the tables are made.</param>
    public static Tensor Table(int grid, int referenceGrid, int headWidth, Device device)
    {
        using var scope = NewDisposeScope();
        int bands = headWidth / 4;
        var exponent = ScalarSafe.Arange(0, bands, ScalarType.Int64, device).to(ScalarType.Float32).div(tensor((float)bands, device: device));
        var frequencies = tensor((float)Temperature, device: device).pow(exponent).reciprocal(); // [bands]
        var t = ScalarSafe.Arange(0, grid, ScalarType.Int64, device).to(ScalarType.Float32)
            .div(tensor((float)grid, device: device)).mul(tensor((float)referenceGrid, device: device)); // [grid]
        var rows = t.view(grid, 1).expand(grid, grid);
        var columns = t.view(1, grid).expand(grid, grid);
        var angles = stack([rows, columns], -1).unsqueeze(-1).mul(frequencies); // [grid, grid, 2, bands]
        var sin = angles.sin().reshape(grid * grid, 2 * bands).repeat_interleave(2, -1);
        var cos = angles.cos().reshape(grid * grid, 2 * bands).repeat_interleave(2, -1);
        return cat([sin, cos], -1).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Rotates <paramref name="x"/> [N, H, P, D] by <paramref name="table"/> ([P, 2D], or [N, P, 2D] per image after
    /// patch dropout): <c>x·cos + rot(x)·sin</c>, where rot turns each pair (a, b) into (−b, a).
    /// </summary>
    public static Tensor Apply(Tensor x, Tensor table)
    {
        using var scope = NewDisposeScope();
        long d = x.shape[^1];
        var sin = table.narrow(-1, 0, d).to(x.dtype);
        var cos = table.narrow(-1, d, d).to(x.dtype);
        if (table.dim() == 3)
        {
            sin = sin.unsqueeze(1);
            cos = cos.unsqueeze(1);
        }
        var rotated = stack([x.slice(-1, 1, d, 2).neg(), x.slice(-1, 0, d, 2)], -1).reshape(x.shape);
        return ScalarSafe.Add(x.mul(cos), rotated.mul(sin)).MoveToOuterDisposeScope();
    }

    /// <summary>The rows of <paramref name="table"/> [P, 2D] of the kept patches <paramref name="keep"/> [N, K]: [N, K, 2D].</summary>
    public static Tensor Keep(Tensor table, Tensor keep)
    {
        long n = keep.shape[0], k = keep.shape[1], width = table.shape[1];
        using var index = keep.to(ScalarType.Int64, table.device).unsqueeze(-1).expand(n, k, width);
        using var expanded = table.unsqueeze(0).expand(n, table.shape[0], width);
        return expanded.gather(1, index);
    }
}
