using Microsoft.ML.Clip.Onnx;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Microsoft.ML.Clip.Modeling;

internal sealed partial class EvaAttention
{
    /// <summary>
    /// Emits the attention with the rotary embedding: <paramref name="rope"/> names the [P, 2·Dh] table constant
    /// (<c>[sin | cos]</c>). The pair rotation (a, b) → (−b, a) is a product with a constant ±1 permutation matrix, which
    /// is exact.
    /// </summary>
    public string EmitOnnx(OnnxGraph graph, string x, string? rope, string name)
    {
        long d = _width / _heads;
        string Heads(Linear layer, string part) => graph.SplitHeads(graph.Linear(x, layer, $"{name}_{part}"), _heads, d, $"{name}_{part}");
        var q = Heads(q_proj, "q");
        var k = Heads(k_proj, "k");
        var v = Heads(v_proj, "v");
        if (rope is not null)
        {
            var sin = graph.Slice(rope, 1, 0, d, name + "_rope_sin");
            var cos = graph.Slice(rope, 1, d, 2 * d, name + "_rope_cos");
            using var matrix = RotationMatrix(d);
            var rotation = graph.Weight(matrix, name + "_rotation");
            string Rotate(string t, string part)
            {
                var prefix = graph.Slice(t, 2, 0, _prefixTokens, $"{name}_{part}_prefix");
                var patches = graph.Slice(t, 2, _prefixTokens, long.MaxValue, $"{name}_{part}_patches");
                var rotated = graph.Add(graph.Mul(patches, cos, $"{name}_{part}_cos"),
                    graph.Mul(graph.MatMul(patches, rotation, $"{name}_{part}_turned"), sin, $"{name}_{part}_sin"), $"{name}_{part}_rotated");
                return _prefixTokens == 0 ? rotated
                    : graph.Op("Concat", $"{name}_{part}_roped", [prefix, rotated], new OnnxAttribute("axis", 2L));
            }
            q = Rotate(q, "q");
            k = Rotate(k, "k");
        }
        var keys = graph.Transpose(k, name + "_k_transposed", 0, 1, 3, 2);
        var context = graph.Attention(q, keys, v, _scale, _width, name);
        return graph.Linear(norm.EmitOnnx(graph, context, name + "_norm"), proj, name + "_proj");
    }

    /// <summary>R with x·R = rot(x): column 2i takes −x[2i+1], column 2i+1 takes x[2i].</summary>
    private static Tensor RotationMatrix(long d)
    {
        var r = new float[d * d];
        for (long i = 0; i < d; i += 2)
        {
            r[(i + 1) * d + i] = -1f;
            r[i * d + i + 1] = 1f;
        }
        return tensor(r, [d, d]);
    }
}
