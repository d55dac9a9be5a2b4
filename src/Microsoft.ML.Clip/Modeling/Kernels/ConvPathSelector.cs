using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Linq;
using System.Threading;

namespace Microsoft.ML.Clip.Modeling.Kernels;

/// <summary>
/// Chooses, per convolution signature and process-wide, between libtorch's convolution (oneDNN) and the im2col
/// path. Why: on an AMD Zen 5 CPU (AVX-512) libtorch 2.10's train-mode weight gradient of a small stem
/// convolution was found 33 % off while the same computation on AVX2 was right; which kernel is at fault could not
/// be isolated, so every CPU checks the kernels it actually runs (see the README's engineering notes).
/// </summary>
/// <remarks>
/// <para>Mode <see cref="ConvPathMode.Auto"/> (default): the first training-mode call (autograd recording) of a
/// signature checks the native kernel's forward, input gradient and weight gradient against float64
/// (<see cref="ConvKernelCheck"/>); if it fails, the im2col path is checked and used. The decision holds for the
/// process and is reported once through <see cref="Decided"/>. Inference calls (no gradient) are not checked — a
/// check costs more than most inference batches, and the failure seen was in a gradient while forward outputs
/// matched open_clip on the same CPU — but they follow a decision already made for their signature.</para>
/// <para><c>CLIP_CONV_PATH=onednn|im2col|auto</c> (or <see cref="Override"/>) forces a path for every CPU
/// convolution, unchecked.</para>
/// </remarks>
internal static class ConvPathSelector
{
    /// <summary>The environment variable that forces a path: <c>onednn</c> (also <c>native</c>), <c>im2col</c> or <c>auto</c>.</summary>
    public const string EnvironmentVariable = "CLIP_CONV_PATH";

    private static readonly ConcurrentDictionary<ConvSignature, Lazy<ConvDecision>> s_decisions = new();
    private static readonly ConcurrentDictionary<(ConvPathMode, ConvSignature), bool> s_forcedReported = new();
    private static ConvPathMode? s_override;

    /// <summary>
    /// One line per decision (checked signature, forced path). The ML.NET layer routes it to its channel while
    /// training; without any handler, lines reporting a failed kernel go to standard error so that they are never lost.
    /// </summary>
    public static event Action<string>? Decided;

    /// <summary>Adds <paramref name="handler"/> to <see cref="Decided"/> until the returned object is disposed.</summary>
    public static IDisposable Subscribe(Action<string> handler)
    {
        ArgumentNullException.ThrowIfNull(handler);
        Decided += handler;
        return new Subscription(handler);
    }

    private sealed class Subscription(Action<string> handler) : IDisposable
    {
        private int _disposed;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _disposed, 1) == 0) Decided -= handler;
        }
    }

    /// <summary>A mode set by code, taking precedence over <see cref="EnvironmentVariable"/>; null to follow it.</summary>
    public static ConvPathMode? Override
    {
        get => s_override;
        set => s_override = value;
    }

    /// <summary>The mode in force: <see cref="Override"/>, else <see cref="EnvironmentVariable"/>, else auto.</summary>
    public static ConvPathMode Mode => s_override ?? ParseMode(Environment.GetEnvironmentVariable(EnvironmentVariable));

    /// <summary>Decisions made so far in this process (auto mode).</summary>
    public static IReadOnlyList<ConvDecision> Decisions =>
        s_decisions.Values.Where(l => l.IsValueCreated).Select(l => l.Value).ToList();

    /// <summary>Parses a <see cref="EnvironmentVariable"/> value (case-insensitive; empty means auto).</summary>
    public static ConvPathMode ParseMode(string? value) => value?.Trim().ToLowerInvariant() switch
    {
        null or "" or "auto" => ConvPathMode.Auto,
        "onednn" or "native" => ConvPathMode.Native,
        "im2col" => ConvPathMode.Im2Col,
        _ => throw new InvalidOperationException($"{EnvironmentVariable}='{value}' is not a convolution path; use onednn, im2col or auto."),
    };

    /// <summary>The path for a convolution of <paramref name="signature"/>, checking it first when needed.</summary>
    /// <param name="signature">The convolution.</param>
    /// <param name="training">Whether autograd records this call (only then is an unchecked signature checked).</param>
    public static ConvPath Choose(ConvSignature signature, bool training)
    {
        var mode = Mode;
        if (mode != ConvPathMode.Auto) return Forced(mode, signature);
        if (s_decisions.TryGetValue(signature, out var known) && known.IsValueCreated) return known.Value.Path;
        if (!training) return ConvPath.Native;
        var entry = s_decisions.GetOrAdd(signature, s => new Lazy<ConvDecision>(() => DecideAndReport(s), LazyThreadSafetyMode.ExecutionAndPublication));
        try
        {
            return entry.Value.Path;
        }
        catch
        {
            s_decisions.TryRemove(new KeyValuePair<ConvSignature, Lazy<ConvDecision>>(signature, entry)); // retry next time
            throw;
        }
    }

    /// <summary>Checks <paramref name="signature"/> and picks its path, without caching or reporting.</summary>
    public static ConvDecision Decide(ConvSignature signature)
    {
        long batch = ConvKernelCheck.CheckBatch(signature);
        var native = ConvKernelCheck.Run(signature, ConvPath.Native);
        if (native.Passed) return new ConvDecision(signature, ConvPath.Native, batch, native, null);
        var im2col = ConvKernelCheck.Run(signature, ConvPath.Im2Col);
        bool useIm2Col = im2col.Passed || im2col.Worst.ErrorRatio < native.Worst.ErrorRatio;
        return new ConvDecision(signature, useIm2Col ? ConvPath.Im2Col : ConvPath.Native, batch, native, im2col);
    }

    /// <summary>Forgets every decision and forced-path report (for tests and diagnostics).</summary>
    public static void Reset()
    {
        s_decisions.Clear();
        s_forcedReported.Clear();
    }

    private static ConvDecision DecideAndReport(ConvSignature signature)
    {
        var decision = Decide(signature);
        Report(decision.Message, important: !decision.Native.Passed);
        return decision;
    }

    private static ConvPath Forced(ConvPathMode mode, ConvSignature signature)
    {
        var path = mode == ConvPathMode.Im2Col ? ConvPath.Im2Col : ConvPath.Native;
        if (s_forcedReported.TryAdd((mode, signature), true))
            Report($"Convolution path forced, {signature}: {ConvKernelCheck.Describe(path)} (unchecked; {EnvironmentVariable} or ConvPathSelector.Override)", important: false);
        return path;
    }

    private static void Report(string line, bool important)
    {
        var handlers = Decided;
        if (handlers is not null) handlers(line);
        else if (important) Console.Error.WriteLine("ClipMlNet: " + line);
    }
}
