using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace Microsoft.ML.Clip.Tests.Foundation;

public class TorchSharpRuntimeTests
{
    [Fact]
    public void NativeBackendLoadsAndComputes()
    {
        // A 2x3 by 3x2 product whose result is known by hand.
        using var a = tensor(new float[] { 1, 2, 3, 4, 5, 6 }, new long[] { 2, 3 });
        using var b = tensor(new float[] { 7, 8, 9, 10, 11, 12 }, new long[] { 3, 2 });
        using var c = a.matmul(b);
        Assert.Equal(new float[] { 58, 64, 139, 154 }, c.data<float>().ToArray());
    }

    [Fact]
    public void AutogradComputesGradients()
    {
        using var x = tensor(new float[] { 1, -2, 3 }, requires_grad: true);
        using var y = (x * x).sum();
        y.backward();
        Assert.Equal(new float[] { 2, -4, 6 }, x.grad!.data<float>().ToArray());
    }
}
