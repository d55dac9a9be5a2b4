using System;
using System.Linq;
using Microsoft.ML.Clip.Modeling;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using Tensor = TorchSharp.torch.Tensor;
using static TorchSharp.torch;

namespace Microsoft.ML.Clip.Tests.Onnx;

/// <summary>Runs exported encoders with ONNX Runtime on the CPU (full graph optimisation), on TorchSharp tensors.</summary>
internal static class OrtRunner
{
    public static InferenceSession Open(string path)
    {
        using var options = new SessionOptions { GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL };
        return new InferenceSession(path, options);
    }

    public static InferenceSession Open(byte[] model)
    {
        using var options = new SessionOptions { GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL };
        return new InferenceSession(model, options);
    }

    /// <summary>Runs the single-input, single-output session on <paramref name="input"/> (float32 or int64) and returns the output as a float32 tensor.</summary>
    public static Tensor Run(InferenceSession session, string inputName, Tensor input)
    {
        using var cpu = input.contiguous().cpu();
        var dims = input.shape.Select(d => (int)d).ToArray();
        NamedOnnxValue value = input.dtype == ScalarType.Int64
            ? NamedOnnxValue.CreateFromTensor(inputName, new DenseTensor<long>(cpu.data<long>().ToArray(), dims))
            : NamedOnnxValue.CreateFromTensor(inputName, new DenseTensor<float>(cpu.to(ScalarType.Float32).data<float>().ToArray(), dims));
        using var results = session.Run([value]);
        var output = results.First().AsTensor<float>();
        return tensor(output.ToArray(), output.Dimensions.ToArray().Select(d => (long)d).ToArray());
    }

    /// <summary>
    /// Token ids [n, context] as the tokenizer makes them: a start id, random ids, the end-of-text id (the largest)
    /// at a random position, zero padding after it.
    /// </summary>
    public static Tensor RandomTokens(ClipConfig config, int n, long seed)
    {
        var random = new Random((int)seed);
        int context = config.Text.ContextLength, vocab = config.Text.VocabSize;
        var ids = new long[n * context];
        for (int row = 0; row < n; row++)
        {
            int end = random.Next(1, context);
            ids[row * context] = vocab - 2;
            for (int j = 1; j < end; j++) ids[row * context + j] = random.Next(1, vocab - 2);
            ids[row * context + end] = vocab - 1;
        }
        return tensor(ids, new long[] { n, context });
    }
}
