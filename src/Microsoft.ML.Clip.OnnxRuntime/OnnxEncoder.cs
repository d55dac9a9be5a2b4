using System;
using System.Collections.Generic;
using System.IO;
using Microsoft.Extensions.AI;
using Microsoft.ML.Clip.Embeddings;
using Microsoft.ML.Clip.Onnx;
using Microsoft.ML.OnnxRuntime;

namespace Microsoft.ML.Clip.OnnxRuntime;

/// <summary>One encoder of an export folder in an ONNX Runtime session: a batch of inputs in, [count, D] floats out.</summary>
internal sealed class OnnxEncoder : IDisposable
{
    private readonly InferenceSession _session;
    private readonly string[] _inputNames;
    private readonly string[] _outputNames;

    private OnnxEncoder(InferenceSession session, string input, string output, ClipOnnxManifest manifest)
    {
        _session = session;
        _inputNames = [input];
        _outputNames = [output];
        Manifest = manifest;
    }

    /// <summary>The export's manifest.</summary>
    public ClipOnnxManifest Manifest { get; }

    /// <summary>The session (for <c>GetService</c>).</summary>
    public InferenceSession Session => _session;

    /// <summary>
    /// Opens the encoder <paramref name="pick"/> names and builds a generator's batches over it with the batch encoder
    /// <paramref name="encoder"/> makes (the encoder is disposed again if that fails).
    /// </summary>
    public static (OnnxEncoder Encoder, EmbeddingBatches<TInput> Batches) Open<TInput>(object owner, string exportFolder,
        ClipOnnxEmbeddingGeneratorOptions? options, int defaultBatchSize, Func<ClipOnnxManifest, (string File, string Input, string Output)> pick,
        Func<OnnxEncoder, EmbeddingBatches<TInput>.BatchEncoder> encoder)
    {
        options ??= new ClipOnnxEmbeddingGeneratorOptions();
        var opened = Open(exportFolder, options, pick);
        try
        {
            var manifest = opened.Manifest;
            // Model id: the option, else the folder's name. Normalized here when normalized embeddings are asked for from a raw export.
            string modelId = options.ModelId ?? Path.GetFileName(Path.TrimEndingDirectorySeparator(Path.GetFullPath(exportFolder)));
            var metadata = new EmbeddingGeneratorMetadata(ClipOnnxTextEmbeddingGenerator.ProviderName, null, modelId, manifest.EmbeddingSize);
            bool normalizeHere = options.Normalize && !manifest.Normalized;
            return (opened, new EmbeddingBatches<TInput>(owner, metadata, options.BatchSize ?? defaultBatchSize, normalizeHere, encoder(opened)));
        }
        catch
        {
            opened.Dispose();
            throw;
        }
    }

    /// <summary>Reads the manifest of <paramref name="exportFolder"/> (checking the files unless told not to) and opens the encoder <paramref name="pick"/> names.</summary>
    /// <exception cref="InvalidOperationException">Raw embeddings were asked for from an export that normalizes them.</exception>
    private static OnnxEncoder Open(string exportFolder, ClipOnnxEmbeddingGeneratorOptions options,
        Func<ClipOnnxManifest, (string File, string Input, string Output)> pick)
    {
        ArgumentException.ThrowIfNullOrEmpty(exportFolder);
        var manifest = ClipOnnxManifest.Load(exportFolder, options.VerifyFiles);
        if (!options.Normalize && manifest.Normalized)
            throw new InvalidOperationException($"Raw embeddings were asked for (Normalize = false), but the export in '{exportFolder}' normalizes them " +
                "and they cannot be recovered; export with ClipOnnxExportOptions.NormalizeEmbeddings = false.");
        var (file, input, output) = pick(manifest);
        InferenceSession session;
        if (options.SessionOptions is { } sessionOptions)
            session = new InferenceSession(Path.Combine(exportFolder, file), sessionOptions);
        else
        {
            using var defaults = new SessionOptions { GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL };
            session = new InferenceSession(Path.Combine(exportFolder, file), defaults);
        }
        return new OnnxEncoder(session, input, output, manifest);
    }

    /// <summary>Runs the encoder on inputs of <paramref name="shape"/> (first dimension: how many) and copies their [count, D] floats out.</summary>
    public void Run<T>(T[] input, long[] shape, float[] destination) where T : unmanaged
    {
        long elements = 1;
        foreach (long d in shape) elements *= d;
        using var value = OrtValue.CreateTensorValueFromMemory(OrtMemoryInfo.DefaultInstance, input.AsMemory(0, (int)elements), shape);
        using var run = new RunOptions();
        using IDisposableReadOnlyCollection<OrtValue> outputs = _session.Run(run, _inputNames, [value], _outputNames);
        var embeddings = outputs[0].GetTensorDataAsSpan<float>();
        int expected = (int)shape[0] * Manifest.EmbeddingSize;
        if (embeddings.Length != expected)
            throw new InvalidDataException($"The ONNX encoder returned {embeddings.Length} floats for {shape[0]} inputs; the manifest promises {Manifest.EmbeddingSize} per input.");
        embeddings.CopyTo(destination);
    }

    public void Dispose() => _session.Dispose();
}
