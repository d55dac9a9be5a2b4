using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text;
using Microsoft.ML.Clip.Imaging;
using Microsoft.ML.Clip.Modeling;
using Microsoft.ML.Clip.Onnx;
using Microsoft.ML.Clip.Persistence;
using Microsoft.ML.Clip.Threading;
using Microsoft.ML.Clip.Tokenization;
using Microsoft.ML.Clip.Scoring;
using Microsoft.ML.Clip.Torch;
using Microsoft.ML.Clip.Weights;
using static TorchSharp.torch;

namespace Microsoft.ML.Clip;

/// <summary>
/// Everything a CLIP stage needs to turn images and captions into embeddings: the model (weights and
/// architecture), the tokenizer and the image preprocessing settings. Load one from open_clip, OpenAI or
/// Hugging Face weights, or take it from a fitted <c>ClipPretrain</c>; pass it to the embedding and
/// zero-shot stages. It is saved inside every ML.NET model zip that uses it.
/// </summary>
/// <remarks>
/// <para><b>Ownership.</b> A bundle holds the model's native (libtorch) memory. The code that creates or loads a bundle
/// owns it: the stages, transformers and embedding generators built over it share it and never dispose it (a fitted
/// <c>ClipPretrain</c>'s bundle, <c>ClipEmbeddingTransformer.Bundle</c>, belongs to whoever holds that transformer).
/// <see cref="Dispose"/> frees the model's weights and its bf16 inference copy at once instead of at some later garbage
/// collection, which matters to a server that swaps models; dispose a bundle only when nothing scores with it any
/// more. Disposing waits for scoring in progress through the stages, evaluations and generators to finish; afterwards
/// every use throws <see cref="ObjectDisposedException"/>.</para>
/// </remarks>
/// <example>
/// <code>
/// // open_clip weights and the OpenAI tokenizer, or a released model's hub folder (EVA02-CLIP, SigLIP, SigLIP 2).
/// using var clip = ClipModelBundle.Load("ViT-B-32.safetensors", ClipPresets.Get("ViT-B-32-quickgelu"),
///                                       ClipTokenizer.FromOpenAIMergesFile("bpe_simple_vocab_16e6.txt.gz"));
/// using var siglip = ClipModelBundle.FromHubFolder("models/ViT-B-16-SigLIP");
/// var zeroShot = mlContext.Transforms.LoadImages("Image", imageFolder, "ImagePath")
///     .Append(mlContext.Transforms.ClipZeroShot(siglip, ["cat", "dog"], PromptTemplates.ImageNet));
/// siglip.ExportOnnx("siglip-onnx");   // for ONNX Runtime, without TorchSharp
/// </code>
/// </example>
public sealed class ClipModelBundle : IDisposable
{
    private readonly ClipModel _model;
    private ClipModel? _inference;
    private ClipScoring? _scoring;
    private readonly object _inferenceLock = new();
    private readonly UsageGate _gate = new(); // uses of the model in progress (EnterUse); closed by Dispose

    /// <summary>Bundles a model with the tokenizer and preprocessing it was trained with; checks that the tokenizer fits the model's vocabulary.</summary>
    /// <param name="model">The model (float32 weights; it is not copied: the bundle owns it from now on, and <see cref="Dispose"/> disposes it).</param>
    /// <param name="tokenizer">The tokenizer the model was trained with.</param>
    /// <param name="preprocessing">Image preprocessing; null: CLIP's defaults at the model's image size.</param>
    /// <param name="inferenceDType">Arithmetic used by scoring stages: Float32 (default) or BFloat16 (several times faster on CPUs with bf16 instructions,
    /// AVX-512 BF16 or AMX; several times slower on CPUs without them, where libtorch emulates bf16: see
    /// <see cref="Diagnostics.CpuInfo.HasFastBFloat16"/>).</param>
    public ClipModelBundle(ClipModel model, ClipTextTokenizer tokenizer, ImagePreprocessingOptions? preprocessing = null, ScalarType inferenceDType = ScalarType.Float32)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(tokenizer);
        if (inferenceDType is not (ScalarType.Float32 or ScalarType.BFloat16))
            throw new ArgumentException($"Inference runs in Float32 or BFloat16, not {inferenceDType}.", nameof(inferenceDType));
        if (tokenizer.VocabularySize > model.Config.Text.VocabSize)
            throw new ArgumentException($"The tokenizer has {tokenizer.VocabularySize} tokens but the model's vocabulary holds {model.Config.Text.VocabSize}.", nameof(tokenizer));
        _model = model;
        Tokenizer = tokenizer;
        Preprocessing = preprocessing ?? new ImagePreprocessingOptions(model.Config.Vision.ImageSize);
        Preprocessing.Validate();
        InferenceDType = inferenceDType;
    }

    /// <summary>The model (float32 weights).</summary>
    /// <exception cref="ObjectDisposedException">The bundle was disposed.</exception>
    public ClipModel Model
    {
        get
        {
            ObjectDisposedException.ThrowIf(_gate.IsClosed, this);
            return _model;
        }
    }

    /// <summary>Turns captions into the model's token ids (at most <see cref="ContextLength"/> per caption).</summary>
    public ClipTextTokenizer Tokenizer { get; }

    /// <summary>Image preprocessing settings.</summary>
    public ImagePreprocessingOptions Preprocessing { get; }

    /// <summary>Arithmetic of scoring stages.</summary>
    public ScalarType InferenceDType { get; }

    /// <summary>
    /// How images and texts are compared (zero-shot classification, retrieval evaluation, validation): what the
    /// training objective taught, e.g. <see cref="ClipScoring.TokenWise"/> for FILIP. Unset: what the model's
    /// parameters imply (<see cref="ClipScoring.For"/>). Saved with the model.
    /// </summary>
    public ClipScoring Scoring
    {
        get => _scoring ??= ClipScoring.For(Model);
        init => _scoring = value ?? throw new ArgumentNullException(nameof(Scoring));
    }

    /// <summary>Floats per image or text embedding (the model's joint embedding width): the width of the embedding columns.</summary>
    public int EmbeddingSize => _model.Config.EmbedDim;

    /// <summary>Tokens per caption.</summary>
    public int ContextLength => _model.Config.Text.ContextLength;

    /// <summary>
    /// Loads weights in open_clip's or Hugging Face's safetensors layout (detected from the tensor names).
    /// </summary>
    /// <param name="weightsPath">A <c>.safetensors</c> file.</param>
    /// <param name="config">The architecture; null: the config stored in the file's metadata by this library.</param>
    /// <param name="tokenizer">The tokenizer (e.g. <see cref="ClipTokenizer.FromOpenAIMergesFile(string)"/>, <see cref="ClipTextTokenizer.FromHubFolder(string)"/>).</param>
    /// <param name="preprocessing">Image preprocessing; null: CLIP's defaults at the model's image size.</param>
    /// <param name="device">Where the model runs (<c>cpu</c>, <c>cuda</c>, <c>cuda:1</c>); null: CPU.</param>
    /// <param name="inferenceDType">Float32 or BFloat16 scoring.</param>
    public static ClipModelBundle Load(string weightsPath, ClipConfig? config, ClipTextTokenizer tokenizer,
        ImagePreprocessingOptions? preprocessing = null, Device? device = null, ScalarType inferenceDType = ScalarType.Float32)
    {
        if (!File.Exists(weightsPath))
            throw new FileNotFoundException($"The weights file '{weightsPath}' does not exist.", weightsPath);
        config ??= ClipWeights.ReadConfig(weightsPath)
            ?? throw new ArgumentException($"'{weightsPath}' carries no model config; pass the architecture (a preset such as ClipPresets.VitB32, or ClipConfig.FromOpenClipJson).", nameof(config));
        var model = new ClipModel(config, device);
        ClipWeights.Load(model, weightsPath);
        return new ClipModelBundle(model, tokenizer, preprocessing, inferenceDType);
    }

    /// <summary>
    /// Loads a model folder in open_clip's Hugging Face hub layout in one call, as
    /// <c>open_clip.create_model_and_transforms("hf-hub:...")</c> does: the architecture from <c>open_clip_config.json</c>
    /// (<c>model_cfg</c>, e.g. EVA02-CLIP's or SigLIP's timm towers), the weights from <c>open_clip_model.safetensors</c>,
    /// the image preprocessing from its <c>preprocess_cfg</c> and the tokenizer from the folder's files. Models with a
    /// <c>logit_bias</c> (SigLIP) score with the sigmoid and the bias.
    /// </summary>
    /// <param name="folder">The folder (a local copy of the hub repository).</param>
    /// <param name="device">Where the model runs; null: CPU.</param>
    /// <param name="inferenceDType">Float32 or BFloat16 scoring.</param>
    /// <exception cref="FileNotFoundException">A file the folder needs is missing; the message names it.</exception>
    /// <exception cref="NotSupportedException">The config asks for a tower or text setting not implemented; the message
    /// names the file and the field.</exception>
    /// <exception cref="InvalidDataException">A tokenizer file or a <c>preprocess_cfg</c> field is malformed or not
    /// implemented; the message names the file or the field.</exception>
    public static ClipModelBundle FromHubFolder(string folder, Device? device = null, ScalarType inferenceDType = ScalarType.Float32)
    {
        var hub = OpenClipHubFolder.Open(folder);
        var tokenizer = ClipTextTokenizer.FromHubFolder(hub.Folder);
        var preprocessing = HubPreprocessing.Read(hub);
        var model = new ClipModel(hub.Config, device);
        try
        {
            ClipWeights.Load(model, hub.WeightsPath);
        }
        catch
        {
            model.Dispose();
            throw;
        }
        return new ClipModelBundle(model, tokenizer, preprocessing, inferenceDType);
    }

    /// <summary>
    /// Writes the model as ONNX into <paramref name="directory"/>: <c>image_encoder.onnx</c> (preprocessed pixels
    /// float32 [N, 3, S, S] → embeddings [N, D]), <c>text_encoder.onnx</c> (token ids int64 [N, context] → embeddings),
    /// the tokenizer's files (CLIP: <c>vocab.json</c> and <c>merges.txt</c>; SigLIP: <c>sentencepiece.model</c>), and <c>clip-onnx.json</c> (<see cref="ClipOnnxManifest"/>,
    /// also returned). The batch dimension is dynamic; the logit scale (and SigLIP's bias) are in the manifest and in
    /// each model's metadata. Nothing is left in <paramref name="directory"/> when the export fails.
    /// </summary>
    /// <param name="directory">The export folder (created; files of an earlier export there are replaced).</param>
    /// <param name="options">Precision and normalisation; null: float32, normalised embeddings.</param>
    /// <exception cref="NotSupportedException">The model cannot be exported (FILIP's token-wise scoring; a custom image tower).</exception>
    /// <exception cref="IOException">The folder cannot be written.</exception>
    public ClipOnnxManifest ExportOnnx(string directory, ClipOnnxExportOptions? options = null)
    {
        if (Scoring.OnnxExportLimitation is { } limitation)
            throw new NotSupportedException(limitation);
        return ClipOnnxExporter.ExportFolder(directory, Model, Tokenizer, Preprocessing, Scoring.Name, options ?? new ClipOnnxExportOptions());
    }

    /// <summary>
    /// A weight-space ensemble (WiSE-FT) of two bundles of one architecture: the model's every parameter and buffer is
    /// <c>(1 − alpha)·first + alpha·second</c> (see <see cref="WeightInterpolation"/> for BatchNorm statistics), with
    /// <paramref name="second"/>'s tokenizer, preprocessing, scoring and inference dtype. Typically
    /// <paramref name="first"/> is a pretrained model and <paramref name="second"/> that model fine-tuned
    /// (<c>ClipPretrainOptions.InitialModel</c>); α = 0 and 1 give the endpoints exactly.
    /// </summary>
    /// <exception cref="ArgumentException">The architectures, tokenizers, preprocessing or scorings differ (the message says where).</exception>
    public static ClipModelBundle Interpolate(ClipModelBundle first, ClipModelBundle second, double alpha)
    {
        ArgumentNullException.ThrowIfNull(first);
        ArgumentNullException.ThrowIfNull(second);
        if (first.Scoring.Name != second.Scoring.Name)
            throw new ArgumentException($"Cannot interpolate models that score differently ('{first.Scoring.Name}' and '{second.Scoring.Name}').");
        if (!SamePreprocessing(first.Preprocessing, second.Preprocessing))
            throw new ArgumentException("Cannot interpolate models with different image preprocessing (size, resize mode, interpolation, mean or std).");
        if (!first.Tokenizer.SameAs(second.Tokenizer))
            throw new ArgumentException("Cannot interpolate models with different tokenizers: the same token id would mean different text.");
        var model = WeightInterpolation.Interpolate(first.Model, second.Model, alpha);
        return new ClipModelBundle(model, second.Tokenizer, second.Preprocessing, second.InferenceDType) { Scoring = second.Scoring };
    }

    private static bool SamePreprocessing(ImagePreprocessingOptions a, ImagePreprocessingOptions b) =>
        a.ImageSize == b.ImageSize && a.ResizeMode == b.ResizeMode && a.Interpolation == b.Interpolation
        && a.Mean.SequenceEqual(b.Mean) && a.Std.SequenceEqual(b.Std);

    /// <summary>
    /// The model to score with: the float32 model itself, or a bf16 copy made once (open_clip's low-precision
    /// conversion) when <see cref="InferenceDType"/> is BFloat16.
    /// </summary>
    internal ClipModel InferenceModel()
    {
        if (InferenceDType == ScalarType.Float32) return Model;
        lock (_inferenceLock)
        {
            ObjectDisposedException.ThrowIf(_gate.IsClosed, this);
            if (_inference is null)
            {
                var copy = Model.Copy();
                copy.eval();
                _inference = copy.ToInferenceDType(InferenceDType);
            }
            return _inference;
        }
    }

    /// <summary>
    /// Marks a use of the model in progress until the lease is disposed: <see cref="Dispose"/> waits for it. Every scoring
    /// path (embedding, zero-shot, retrieval, the generators) holds one while it runs the model.
    /// </summary>
    /// <exception cref="ObjectDisposedException">The bundle was disposed.</exception>
    internal UsageGate.Lease EnterUse() => _gate.Enter(this);

    /// <summary>Forgets the bf16 copy after the float32 weights changed (training).</summary>
    internal void InvalidateInferenceCopy()
    {
        lock (_inferenceLock) _inference = null;
    }

    /// <summary>
    /// Embeddings of preprocessed images ([<paramref name="count"/>, 3, S, S] floats) into <paramref name="destination"/>
    /// (<paramref name="count"/> × <see cref="EmbeddingSize"/> floats), with the inference model on its device; what the
    /// embedding stage and the embedding generators compute. <see cref="Dispose"/> waits for it to finish.
    /// </summary>
    internal void EncodeImagesInto(ReadOnlySpan<float> pixels, int count, Span<float> destination, bool normalize)
    {
        int size = Preprocessing.ImageSize;
        using var use = EnterUse();
        var model = InferenceModel();
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var input = SpanTensors.FromSpan(pixels[..(count * 3 * size * size)], [count, 3, size, size], ScalarType.Float32).to(model.Device);
        SpanTensors.CopyToSpan(model.EncodeImage(input, normalize), destination);
    }

    /// <summary>
    /// Embeddings of token ids ([<paramref name="count"/>, <see cref="ContextLength"/>]) into <paramref name="destination"/>,
    /// as <see cref="EncodeImagesInto"/>.
    /// </summary>
    internal void EncodeTextsInto(ReadOnlySpan<long> tokens, int count, Span<float> destination, bool normalize)
    {
        using var use = EnterUse();
        var model = InferenceModel();
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var input = SpanTensors.FromSpan(tokens[..(count * ContextLength)], [count, ContextLength], ScalarType.Int64).to(model.Device);
        SpanTensors.CopyToSpan(model.EncodeText(input, normalize), destination);
    }

    /// <summary>
    /// Frees the model's weights (and the bf16 inference copy) now. Waits for scoring in progress through the stages,
    /// evaluations and generators; afterwards using the bundle, or a stage or generator over it, throws
    /// <see cref="ObjectDisposedException"/>. Only the bundle's owner disposes it (see the remarks on the class).
    /// Calling it again does nothing.
    /// </summary>
    public void Dispose()
    {
        if (!_gate.Close()) return;
        ClipModel? inference;
        lock (_inferenceLock)
        {
            inference = _inference;
            _inference = null;
        }
        inference?.Dispose();
        _model.Dispose();
    }

    // *** Binary format (inside the owning component's folder of the model zip) ***
    // int: format version (1, or 2 when the interpolation is not bicubic, so that versions before it refuse the model
    //      rather than resize differently)
    // string: open_clip config JSON
    // int: inference dtype (ScalarType)
    // int: image size, int: resize mode, float[3]: mean, float[3]: std, long: max pixels
    // version 2 only: int: interpolation (ClipInterpolation)
    // entries: ClipWeights.safetensors, the tokenizer's files as ClipTokenizer.<file> (CLIP: vocab.json, merges.txt;
    // SentencePiece: sentencepiece.model), ClipTokenizer.settings.json (string: TokenizerSettings JSON; absent in older
    // models, whose tokenizer is CLIP's BPE),
    // ClipScoring.bin (string: ClipScoring.Name; absent in older models),
    // ClipSimilarity.bin (int: 1 for FILIP's token-wise scoring, read by older versions; written only when not 0)
    private const int FormatVersion = 1;
    private const int InterpolationFormatVersion = 2;
    private const string ScoringEntry = "ClipScoring.bin";
    private const string TokenizerEntryPrefix = "ClipTokenizer.";
    private const string TokenizerSettingsEntry = "ClipTokenizer.settings.json";
    private const string SimilarityEntry = "ClipSimilarity.bin";

    internal void Save(ModelSaveContext ctx)
    {
        var writer = ctx.Writer;
        bool bicubic = Preprocessing.Interpolation == ClipInterpolation.Bicubic;
        writer.Write(bicubic ? FormatVersion : InterpolationFormatVersion);
        writer.Write(Model.Config.ToOpenClipJson());
        writer.Write((int)InferenceDType);
        writer.Write(Preprocessing.ImageSize);
        writer.Write((int)Preprocessing.ResizeMode);
        foreach (var v in Preprocessing.Mean) writer.Write(v);
        foreach (var v in Preprocessing.Std) writer.Write(v);
        writer.Write(Preprocessing.MaxPixels);
        if (!bicubic) writer.Write((int)Preprocessing.Interpolation);
        ctx.SaveTensors("ClipWeights.safetensors", Model.state_dict());
        foreach (var (name, content) in Tokenizer.SaveFiles())
            ctx.SaveBinaryStream(TokenizerEntryPrefix + name, w => w.Write(content));
        ctx.SaveBinaryStream(TokenizerSettingsEntry, w => w.Write(Tokenizer.Settings.ToJson()));
        // Optional entries rather than a new format version: earlier versions of the library still read the model,
        // and from the older entry they still score a FILIP model token-wise.
        ctx.SaveBinaryStream(ScoringEntry, w => w.Write(Scoring.Name));
        if (Scoring.LegacySimilarityCode != 0)
            ctx.SaveBinaryStream(SimilarityEntry, w => w.Write(Scoring.LegacySimilarityCode));
    }

    internal static ClipModelBundle Load(ModelLoadContext ctx)
    {
        var reader = ctx.Reader;
        int version = reader.ReadInt32();
        if (version is not (FormatVersion or InterpolationFormatVersion))
            throw new InvalidDataException($"The CLIP model in '{ctx.Directory}' has format version {version}; this library reads versions {FormatVersion} and {InterpolationFormatVersion}.");
        var config = ClipConfig.FromOpenClipJson(reader.ReadString());
        var dtype = (ScalarType)reader.ReadInt32();
        int imageSize = reader.ReadInt32();
        var resize = (ClipResizeMode)reader.ReadInt32();
        var mean = new[] { reader.ReadSingle(), reader.ReadSingle(), reader.ReadSingle() };
        var std = new[] { reader.ReadSingle(), reader.ReadSingle(), reader.ReadSingle() };
        long maxPixels = reader.ReadInt64();
        var interpolation = version == InterpolationFormatVersion ? (ClipInterpolation)reader.ReadInt32() : ClipInterpolation.Bicubic;
        var preprocessing = new ImagePreprocessingOptions(imageSize) { ResizeMode = resize, Interpolation = interpolation, Mean = mean, Std = std, MaxPixels = maxPixels };

        var model = new ClipModel(config);
        using (var scope = NewDisposeScope())
        {
            var tensors = ctx.LoadTensors("ClipWeights.safetensors");
            ClipWeights.Load(model, tensors, $"{ctx.Directory}/ClipWeights.safetensors");
        }
        return new ClipModelBundle(model, LoadTokenizer(ctx), preprocessing, dtype) { Scoring = LoadScoring(ctx, model) };
    }

    /// <summary>The saved tokenizer: by its settings entry, or CLIP's BPE from <c>vocab.json</c> + <c>merges.txt</c> in older models.</summary>
    private static ClipTextTokenizer LoadTokenizer(ModelLoadContext ctx)
    {
        string? settings = null;
        ctx.TryLoadBinaryStream(TokenizerSettingsEntry, r => settings = r.ReadString());
        string source = $"{ctx.Directory}/{TokenizerEntryPrefix}";
        byte[] Read(string name) => ReadEntry(ctx, TokenizerEntryPrefix + name);
        return settings is null
            ? ClipTokenizer.FromSavedFiles(Read, source)
            : ClipTextTokenizer.Load(TokenizerSettings.FromJson(settings, $"{ctx.Directory}/{TokenizerSettingsEntry}"), Read, source);
    }

    /// <summary>The saved scoring: by name, else the code older versions wrote, else what the model implies.</summary>
    private static ClipScoring LoadScoring(ModelLoadContext ctx, ClipModel model)
    {
        string? name = null;
        int legacy = 0;
        ctx.TryLoadBinaryStream(ScoringEntry, r => name = r.ReadString());
        ctx.TryLoadBinaryStream(SimilarityEntry, r => legacy = r.ReadInt32());
        try { return name is not null ? ClipScoring.FromName(name) : ClipScoring.FromLegacyCode(legacy, model); }
        catch (InvalidDataException error) { throw new InvalidDataException($"The CLIP model in '{ctx.Directory}': {error.Message}", error); }
    }

    private static byte[] ReadEntry(ModelLoadContext ctx, string name)
    {
        byte[]? bytes = null;
        if (!ctx.TryLoadBinaryStream(name, r => { using var m = new MemoryStream(); r.BaseStream.CopyTo(m); bytes = m.ToArray(); }) || bytes is null)
            throw new InvalidDataException($"The model has no entry '{name}' in '{ctx.Directory}'; it was not saved by this library or is damaged.");
        return bytes;
    }
}
