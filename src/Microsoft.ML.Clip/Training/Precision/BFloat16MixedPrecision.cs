using System.Collections.Generic;
using System.Linq;
using Microsoft.ML.Clip.Modeling;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Microsoft.ML.Clip.Training.Precision;

/// <summary>
/// bf16 mixed precision with float32 master weights: forward and backward passes run on a bf16 working copy of the
/// model, whose gradients are cast to float32 for the optimizer; after each update the trained master weights are cast
/// into the copy (locked ones were copied once and do not change), and the buffers the copy's forward passes update
/// (BatchNorm running statistics) are copied back to the master, which is what is saved and checkpointed.
/// </summary>
internal sealed class BFloat16MixedPrecision : StepPrecision
{
    private readonly ClipModel _working;
    private readonly List<(Parameter Master, Parameter Working)> _parameters;
    private readonly List<(Tensor Master, Tensor Working)> _buffers;

    public BFloat16MixedPrecision(ClipModel master, IReadOnlyList<OptimizedParameter> optimized)
        : this(master, new ClipModel(master.Config, master.Device, ScalarType.BFloat16), optimized)
    {
    }

    private BFloat16MixedPrecision(ClipModel master, ClipModel working, IReadOnlyList<OptimizedParameter> optimized)
        : base(master, Sources(master, working, optimized), optimized)
    {
        _working = working;
        _parameters = master.parameters().Zip(working.parameters(), (m, w) => (m, w)).ToList();
        foreach (var (m, w) in _parameters) w.requires_grad = m.requires_grad;
        _buffers = master.buffers().Zip(working.buffers(), (m, w) => (m, w)).ToList();
        MasterWeightsChanged();
        CopyBuffers(toMaster: false);
    }

    public override ClipModel Working => _working;

    public override void AfterUpdate()
    {
        CopyBuffers(toMaster: true);
        CopyMasterToWorking(includeLocked: false);
    }

    public override void MasterWeightsChanged() => CopyMasterToWorking(includeLocked: true);

    public override void Dispose() => _working.Dispose();

    /// <summary>The optimizer's parameters with each of the master model's replaced by its working copy (objective parameters stay float32).</summary>
    private static List<(string Name, Parameter Parameter)> Sources(ClipModel master, ClipModel working, IReadOnlyList<OptimizedParameter> optimized)
    {
        var copies = master.named_parameters().Zip(working.named_parameters(), (m, w) => (m.name, w.parameter)).ToDictionary(p => p.name, p => p.parameter);
        return optimized.Select(p => (p.Name, copies.TryGetValue(p.Name, out var copy) ? copy : p.Parameter)).ToList();
    }

    /// <summary>Casts the master weights into the working copy; locked parameters only when asked (they do not change between steps).</summary>
    private void CopyMasterToWorking(bool includeLocked)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        foreach (var (master, working) in _parameters)
            if (includeLocked || master.requires_grad) working.copy_(master);
    }

    private void CopyBuffers(bool toMaster)
    {
        using var noGrad = no_grad();
        foreach (var (master, working) in _buffers)
            (toMaster ? master : working).copy_(toMaster ? working : master);
    }
}
