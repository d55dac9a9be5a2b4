using System;
using Microsoft.ML.Clip.Modeling.Kernels;
using Xunit;
using Xunit.Abstractions;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace Microsoft.ML.Clip.Tests.Modeling.Kernels;

public sealed class Im2ColConvolutionTests
{
    private readonly ITestOutputHelper _output;

    public Im2ColConvolutionTests(ITestOutputHelper output) => _output = output;

    public static TheoryData<string, ScalarType> Shapes()
    {
        var data = new TheoryData<string, ScalarType>();
        foreach (var dtype in new[] { ScalarType.Float32, ScalarType.BFloat16 })
            foreach (var name in new[] { "tiny-stem", "tiny-stem2", "tiny-bottleneck-1x1", "tiny-bottleneck-3x3", "rn50-stem", "vit-patch", "odd-stride-pad" })
                data.Add(name, dtype);
        return data;
    }

    private static ConvSignature Signature(string name, ScalarType dtype) => name switch
    {
        "tiny-stem" => new(4, 3, 32, 32, 8, 3, 3, 2, 2, 1, 1, dtype),
        "tiny-stem2" => new(4, 8, 16, 16, 8, 3, 3, 1, 1, 1, 1, dtype),
        "tiny-bottleneck-1x1" => new(4, 16, 8, 8, 64, 1, 1, 1, 1, 0, 0, dtype),
        "tiny-bottleneck-3x3" => new(4, 32, 4, 4, 32, 3, 3, 1, 1, 1, 1, dtype),
        "rn50-stem" => new(2, 3, 224, 224, 32, 3, 3, 2, 2, 1, 1, dtype),
        "vit-patch" => new(2, 3, 64, 64, 96, 16, 16, 16, 16, 0, 0, dtype),
        "odd-stride-pad" => new(3, 5, 13, 11, 7, 3, 3, 2, 3, 2, 0, dtype),
        _ => throw new ArgumentOutOfRangeException(nameof(name), name, null),
    };

    [Theory, MemberData(nameof(Shapes))]
    public void ForwardAndBothGradientsMatchFloat64(string shape, ScalarType dtype)
    {
        var signature = Signature(shape, dtype);
        var result = ConvKernelCheck.Run(signature, ConvPath.Im2Col);
        _output.WriteLine(result.ToString());
        Assert.Equal(3, result.Comparisons.Count);
        Assert.True(result.Passed, string.Join("; ", result.Comparisons));
    }

    [Fact]
    public void BiasIsAddedAndDifferentiatedAsByConv2d()
    {
        using var scope = NewDisposeScope();
        var x = randn(2, 4, 9, 9, ScalarType.Float64).requires_grad_();
        var w = randn(6, 4, 3, 3, ScalarType.Float64).requires_grad_();
        var b = randn(6, ScalarType.Float64).requires_grad_();
        var expected = F.conv2d(x, w, b, strides: [2, 2], padding: [1, 1]);
        expected.sum().backward();
        var (gx, gw, gb) = (x.grad!.clone(), w.grad!.clone(), b.grad!.clone());
        x.grad!.zero_(); w.grad!.zero_(); b.grad!.zero_();

        var actual = Im2ColConvolution.Forward(x, w, b, (2, 2), (1, 1));
        actual.sum().backward();
        TensorAssert.Close(actual, expected, 1e-12, 1e-12, "forward");
        TensorAssert.Close(x.grad!, gx, 1e-12, 1e-12, "grad input");
        TensorAssert.Close(w.grad!, gw, 1e-12, 1e-12, "grad weight");
        TensorAssert.Close(b.grad!, gb, 1e-12, 1e-12, "grad bias");
    }

    [Fact]
    public void BadInputGetsClearErrors()
    {
        using var scope = NewDisposeScope();
        var w = randn(8, 3, 3, 3);
        var dtype = Assert.Throws<ArgumentException>(() => Im2ColConvolution.Forward(randn(1, 3, 8, 8).to(ScalarType.BFloat16), w, null, (1, 1), (0, 0)));
        Assert.Contains("same dtype", dtype.Message);
        var channels = Assert.Throws<ArgumentException>(() => Im2ColConvolution.Forward(randn(1, 4, 8, 8), w, null, (1, 1), (0, 0)));
        Assert.Contains("4 channels", channels.Message);
        var small = Assert.Throws<ArgumentException>(() => Im2ColConvolution.Forward(randn(1, 3, 2, 2), w, null, (1, 1), (0, 0)));
        Assert.Contains("smaller than", small.Message);
        Assert.Throws<ArgumentException>(() => Im2ColConvolution.Forward(randn(3, 8, 8), w, null, (1, 1), (0, 0)));
    }
}
