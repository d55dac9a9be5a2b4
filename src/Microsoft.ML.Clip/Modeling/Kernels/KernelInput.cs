using System;
using System.Linq;
using static TorchSharp.torch;

namespace Microsoft.ML.Clip.Modeling.Kernels;

/// <summary>
/// One input of a <see cref="KernelProbe"/>: how its sample data is drawn (in float64, from the check's own
/// generator) and how long the sum behind each element of its gradient is.
/// </summary>
internal sealed class KernelInput
{
    private readonly Func<Generator, Tensor>? _draw;

    /// <summary>A standard-normal input of <paramref name="shape"/>.</summary>
    /// <param name="name">Name used in reports (<c>input</c>, <c>weight</c>, ...).</param>
    /// <param name="shape">Shape of the sample tensor.</param>
    /// <param name="gradReduction">Longest sum behind one element of this input's gradient; 0 when no gradient is checked.</param>
    /// <param name="draw">Optional custom sampler returning a float64 CPU tensor of <paramref name="shape"/>.</param>
    public KernelInput(string name, long[] shape, long gradReduction, Func<Generator, Tensor>? draw = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        ArgumentNullException.ThrowIfNull(shape);
        if (shape.Any(d => d < 1)) throw new ArgumentException($"Input '{name}' has an empty dimension: [{string.Join(", ", shape)}].", nameof(shape));
        if (gradReduction < 0) throw new ArgumentOutOfRangeException(nameof(gradReduction), gradReduction, "must not be negative");
        Name = name;
        Shape = shape;
        GradReduction = gradReduction;
        _draw = draw;
    }

    /// <summary>Name used in reports.</summary>
    public string Name { get; }

    /// <summary>Shape of the sample tensor.</summary>
    public long[] Shape { get; }

    /// <summary>Longest sum behind one gradient element; 0 means the input takes no gradient.</summary>
    public long GradReduction { get; }

    /// <summary>Whether the check differentiates with respect to this input.</summary>
    public bool RequiresGrad => GradReduction > 0;

    /// <summary>Draws the float64 sample.</summary>
    public Tensor Draw(Generator generator)
    {
        var t = _draw is null ? randn(Shape, ScalarType.Float64, generator: generator) : _draw(generator);
        if (t.dtype != ScalarType.Float64 || !t.shape.SequenceEqual(Shape))
            throw new InvalidOperationException($"Input '{Name}': the sampler returned {t.dtype}[{string.Join(", ", t.shape)}], " +
                $"expected Float64[{string.Join(", ", Shape)}].");
        return t;
    }
}
