using TorchSharp;

namespace Microsoft.ML.Clip.Modeling;

internal static class ModuleExtensions
{
    /// <summary>
    /// Detaches every parameter and buffer of <paramref name="module"/> from the ambient dispose scope.
    /// TorchSharp registers tensors created inside a <c>NewDisposeScope</c> with that scope, parameters included,
    /// so a model built inside one would lose its weights when the scope ends. The module owns them instead.
    /// </summary>
    public static void DetachFromDisposeScopes(this torch.nn.Module module)
    {
        foreach (var p in module.parameters()) p.DetachFromDisposeScope();
        foreach (var b in module.buffers()) b.DetachFromDisposeScope();
    }
}
