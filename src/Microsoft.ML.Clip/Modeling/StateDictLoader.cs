using System;
using System.Collections.Generic;
using System.Linq;
using System.Text;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Clip.Modeling;

/// <summary>
/// Strict state-dict loading: every parameter and persistent buffer of the module must be present in the source
/// with the same shape and no source tensor may be left over; otherwise nothing is copied and a
/// <see cref="StateDictMismatchException"/> lists the offending names with their shapes. Values are copied into the
/// existing parameters under <c>no_grad</c> (converting dtype and device), so optimizers holding them stay valid.
/// </summary>
internal static class StateDictLoader
{
    private const int MaxListed = 40;

    /// <summary>Copies <paramref name="source"/> into <paramref name="module"/>'s parameters and buffers.</summary>
    /// <param name="module">The destination.</param>
    /// <param name="source">Tensors by state-dict name (not disposed here).</param>
    /// <param name="sourceName">Used in error messages (e.g. the file path).</param>
    /// <exception cref="StateDictMismatchException">Names or shapes do not match.</exception>
    public static void LoadStrict(nn.Module module, IReadOnlyDictionary<string, Tensor> source, string sourceName = "state dict")
    {
        ArgumentNullException.ThrowIfNull(module);
        ArgumentNullException.ThrowIfNull(source);
        var target = module.state_dict();

        var missing = target.Keys.Where(k => !source.ContainsKey(k)).ToList();
        var unexpected = source.Keys.Where(k => !target.ContainsKey(k)).ToList();
        var mismatched = new List<string>();
        var details = new List<string>();
        foreach (var (name, dest) in target)
        {
            if (!source.TryGetValue(name, out var src)) continue;
            if (!src.shape.SequenceEqual(dest.shape))
            {
                mismatched.Add(name);
                details.Add($"{name}: {Shape(src)} in the source, {Shape(dest)} in the model");
            }
            else if (dest.is_floating_point() && !src.is_floating_point())
            {
                mismatched.Add(name);
                details.Add($"{name}: {src.dtype} in the source, a floating-point tensor in the model");
            }
        }

        if (missing.Count + unexpected.Count + mismatched.Count > 0)
        {
            var message = new StringBuilder($"Cannot load {sourceName} into {module.GetType().Name}: it does not match the model exactly.");
            AppendList(message, "Missing from the source", missing.Select(k => $"{k} {Shape(target[k])}").ToList());
            AppendList(message, "Unexpected in the source", unexpected.Select(k => $"{k} {Shape(source[k])}").ToList());
            AppendList(message, "Wrong shape or type", details);
            throw new StateDictMismatchException(message.ToString(), missing, unexpected, mismatched);
        }

        using (no_grad())
            foreach (var (name, dest) in target)
                dest.copy_(source[name]);
    }

    /// <summary>Formats a tensor shape as <c>[a, b]</c>.</summary>
    /// <summary>The tensors of <paramref name="state"/> whose names start with <paramref name="prefix"/>, with the prefix removed.</summary>
    public static Dictionary<string, Tensor> WithPrefix(IReadOnlyDictionary<string, Tensor> state, string prefix)
    {
        ArgumentNullException.ThrowIfNull(state);
        ArgumentNullException.ThrowIfNull(prefix);
        return state.Where(p => p.Key.StartsWith(prefix, StringComparison.Ordinal)).ToDictionary(p => p.Key[prefix.Length..], p => p.Value);
    }

    internal static string Shape(Tensor t) => "[" + string.Join(", ", t.shape) + "]";

    private static void AppendList(StringBuilder message, string title, IReadOnlyList<string> items)
    {
        if (items.Count == 0) return;
        message.Append($"\n{title} ({items.Count}):");
        foreach (var item in items.Take(MaxListed)) message.Append("\n  ").Append(item);
        if (items.Count > MaxListed) message.Append($"\n  ... and {items.Count - MaxListed} more");
    }
}
