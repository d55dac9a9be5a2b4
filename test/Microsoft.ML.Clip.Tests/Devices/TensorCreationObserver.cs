using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Linq;
using System.Reflection;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Clip.Tests.Devices;

/// <summary>
/// The device-placement audit: while active, a tensor created without an explicit device lands on <c>meta</c> (libtorch's
/// device of shapes without data) instead of the CPU, and every tensor wrapper created on this thread is inspected;
/// those not on the expected device (the model's) are recorded with the library frames that made them.
/// </summary>
/// <remarks>
/// Why it catches GPU bugs on a CPU-only machine: on the CPU a tensor made without <c>device:</c> is silently right;
/// on a GPU it is made on the host and either breaks the step (mixed devices) or costs a host-to-device copy. Making
/// the default device <c>meta</c> (TorchSharp's <c>torch.set_default_device</c>, which every factory without a
/// device reads) makes such a tensor visible: it is recorded here, and an operation mixing it with the model's CPU
/// tensors throws as it would on a GPU.
/// </remarks>
/// <remarks>
/// How every tensor is seen: TorchSharp 0.107 registers every new <see cref="Tensor"/> made inside a dispose scope in that scope's
/// <c>HashSet</c>, and each scope's set takes its comparer from the private static field
/// <c>TorchSharp.Utils.ReferenceEqualityComparer&lt;IDisposable&gt;._defaultComparer</c>. Installing a comparer there
/// that compares by reference (as the original does) and looks at each tensor it hashes sees every tensor a step
/// creates, in every nested scope. This relies on TorchSharp's internals: <see cref="Install"/> fails loudly when
/// they change, and <c>DeviceAuditTests.ObserverCatchesATensorMadeOnTheHost</c> proves that it still sees them.
/// The observer runs only inside <see cref="Watch"/> (tests run one class at a time); everywhere else the comparer
/// is a plain reference comparer.
/// </remarks>
internal sealed class TensorCreationObserver : IDisposable
{
    [ThreadStatic] private static TensorCreationObserver? t_active;
    private static readonly object Gate = new();
    private static bool s_installed;

    private readonly DeviceType _expected;
    private readonly HashSet<Tensor> _seen = new(ReferenceEqualityComparer.Instance);
    private readonly List<string> _violations = [];

    private readonly Device _previousDefault;

    private TensorCreationObserver(DeviceType expected)
    {
        _expected = expected;
        _previousDefault = get_default_device();
        set_default_device(new Device(DeviceType.META));
    }

    /// <summary>Starts recording tensors created on this thread that are not on <paramref name="expected"/>.</summary>
    /// <remarks>The caller must create the tensors inside a dispose scope opened after this call (TorchSharp
    /// registers tensors only in scopes).</remarks>
    public static TensorCreationObserver Watch(DeviceType expected)
    {
        Install();
        if (t_active is not null) throw new InvalidOperationException("An observer is already active on this thread.");
        return t_active = new TensorCreationObserver(expected);
    }

    /// <summary>Tensors seen (any device).</summary>
    public int Seen => _seen.Count;

    /// <summary>One entry per tensor created elsewhere than the expected device: its device, shape and creator.</summary>
    public IReadOnlyList<string> Violations => _violations;

    public void Dispose()
    {
        if (!ReferenceEquals(t_active, this)) return;
        t_active = null;
        set_default_device(_previousDefault);
    }

    private void Observe(Tensor tensor)
    {
        if (!_seen.Add(tensor) || tensor.IsInvalid) return;
        if (tensor.device_type == _expected) return;
        var frames = new StackTrace(skipFrames: 2).GetFrames()
            .Select(f => f.GetMethod())
            .Where(m => m?.DeclaringType?.Namespace?.StartsWith("Microsoft.ML.Clip", StringComparison.Ordinal) == true
                        && m.DeclaringType != typeof(TensorCreationObserver) && m.DeclaringType != typeof(ObservingComparer))
            .Select(m => $"{m!.DeclaringType!.Name}.{m.Name}")
            .ToList();
        _violations.Add($"{tensor.device_type} [{string.Join(", ", tensor.shape)}] {tensor.dtype} made by {string.Join(" < ", frames.Take(4))}");
    }

    private static void Install()
    {
        lock (Gate)
        {
            if (s_installed) return;
            var type = typeof(TorchSharp.Utils.ReferenceEqualityComparer<IDisposable>);
            var field = type.GetField("_defaultComparer", BindingFlags.NonPublic | BindingFlags.Static)
                ?? throw new InvalidOperationException($"TorchSharp {typeof(Tensor).Assembly.GetName().Version} no longer has {type.Name}._defaultComparer: the tensor creation observer needs another hook.");
            field.SetValue(null, new ObservingComparer());
            s_installed = true;
        }
    }

    /// <summary>Reference equality (as TorchSharp's own comparer) that shows each tensor to the active observer.</summary>
    private sealed class ObservingComparer : IEqualityComparer<IDisposable>
    {
        public bool Equals(IDisposable? x, IDisposable? y) => ReferenceEquals(x, y);

        public int GetHashCode(IDisposable obj)
        {
            if (obj is Tensor t && t_active is { } observer) observer.Observe(t);
            return System.Runtime.CompilerServices.RuntimeHelpers.GetHashCode(obj);
        }
    }
}
