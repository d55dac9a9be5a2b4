using System.IO;
using Microsoft.ML.Clip.Diagnostics;
using Xunit;
using Xunit.Abstractions;

namespace Microsoft.ML.Clip.Tests.Modeling.Kernels;

public sealed class ClipDoctorTests
{
    private readonly ITestOutputHelper _output;

    public ClipDoctorTests(ITestOutputHelper output) => _output = output;

    [Fact, Trait("Category", "Slow")]
    public void DoctorPassesHereAndReportsEveryOperation()
    {
        using var writer = new StringWriter();
        var result = ClipDoctor.Run(writer);
        string text = writer.ToString();
        _output.WriteLine(text);

        Assert.True(result.ExitCode == 0, result.Summary);
        foreach (var heading in new[] { "CPU: ", "vector extensions", ".NET intrinsics", "libtorch: ", "ATen CPU capability", "threads: ", "bf16: " })
            Assert.Contains(heading, text);
        foreach (var operation in TowerKernelProbes.Operations)
        {
            Assert.Contains(" " + operation + " ", text);
            Assert.Contains(result.Checks, c => c.Operation.StartsWith(operation + " ", System.StringComparison.Ordinal) && c.DType == TorchSharp.torch.ScalarType.BFloat16);
        }
        Assert.Contains("all 44 kernel checks passed", text);
    }
}
