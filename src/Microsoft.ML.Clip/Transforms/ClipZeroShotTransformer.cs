using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using Microsoft.ML.Clip.Torch;
using Microsoft.ML;
using Microsoft.ML.Clip.Imaging;
using Microsoft.ML.Clip.Persistence;
using Microsoft.ML.Clip.Scoring;
using Microsoft.ML.Clip.Tokenization;
using Microsoft.ML.Clip.Transforms;
using Microsoft.ML.Clip.Transforms.Batching;
using Microsoft.ML.Clip.Transforms.Clip;
using Microsoft.ML.Data;
using Microsoft.ML.Clip.Onnx;
using Microsoft.ML.Clip.Transforms.Onnx;
using Microsoft.ML.Model.OnnxConverter;
using Microsoft.ML.Runtime;
using static TorchSharp.torch;

[assembly: LoadableClass(typeof(ClipZeroShotTransformer), null, typeof(SignatureLoadModel),
    "CLIP Zero-Shot Classification", ClipZeroShotTransformer.LoaderSignature)]
[assembly: LoadableClass(typeof(IRowMapper), typeof(ClipZeroShotTransformer), null, typeof(SignatureLoadRowMapper),
    "CLIP Zero-Shot Classification", ClipZeroShotTransformer.LoaderSignature)]

namespace Microsoft.ML.Clip.Transforms;

/// <summary>
/// Zero-shot image classification with a CLIP model: each class is described by prompts (class name ×
/// templates); the class embedding is the mean of the prompts' normalized text embeddings, renormalized
/// (CLIP's prompt ensembling). An image's <c>Score</c> is the softmax of its scaled cosine similarities to the
/// classes (slot names = class names) and <c>PredictedLabel</c> is the best class as a key whose values are the
/// class names, so <c>MulticlassClassification.Evaluate</c> and <c>MapKeyToValue</c> work as with any ML.NET
/// classifier. The bundle's <see cref="ClipModelBundle.Scoring"/> decides the similarity and the probabilities:
/// SigLIP's are independent per-class sigmoids that need not sum to one, FILIP's compare the image's patch tokens
/// with each prompt's tokens and average over a class's prompts.
/// </summary>
public sealed class ClipZeroShotTransformer : BatchedTransformerBase
{
    internal const string LoaderSignature = "ClipZeroShotTransformer";
    private const string ClassEmbeddingsEntry = "ClassEmbeddings.safetensors";

    private readonly float[] _classEmbeddings; // [K × D], each row unit-norm
    private readonly ZeroShotClasses _classes; // the classes as the bundle's scoring compares images with them

    internal ClipZeroShotTransformer(IHostEnvironment env, ClipModelBundle bundle, string imageColumnName, IReadOnlyList<string> classNames,
        IReadOnlyList<string> templates, string scoreColumnName, string predictedLabelColumnName, int batchSize)
        : this(env, bundle, imageColumnName, classNames, templates, scoreColumnName, predictedLabelColumnName, batchSize,
               ComputeClassEmbeddings(bundle, classNames, templates))
    {
    }

    private ClipZeroShotTransformer(IHostEnvironment env, ClipModelBundle bundle, string imageColumnName, IReadOnlyList<string> classNames,
        IReadOnlyList<string> templates, string scoreColumnName, string predictedLabelColumnName, int batchSize, float[] classEmbeddings)
        : base(Contracts.CheckRef(env, nameof(env)).Register(nameof(ClipZeroShotTransformer)))
    {
        Host.CheckValue(bundle, nameof(bundle));
        Host.CheckUserArg(batchSize > 0, nameof(batchSize), "The batch size must be positive.");
        Bundle = bundle;
        ImageColumnName = imageColumnName;
        ClassNames = classNames.ToArray();
        Templates = templates.ToArray();
        ScoreColumnName = scoreColumnName;
        PredictedLabelColumnName = predictedLabelColumnName;
        BatchSize = batchSize;
        _classEmbeddings = classEmbeddings;
        // Whatever a scoring needs beyond the class embeddings is recomputed from the saved class names and templates.
        _classes = PrepareClasses(bundle, ClassNames, Templates, classEmbeddings);
    }

    /// <summary>The model that embeds the images and that computed the class embeddings; saved with the transformer.</summary>
    public ClipModelBundle Bundle { get; }

    /// <summary>Input image column as configured (MLImage, encoded bytes or preprocessed pixels); the default <c>Image</c> also finds the loaders' <c>ImageBytes</c>.</summary>
    public string ImageColumnName { get; }

    /// <summary>Class names, in score order.</summary>
    public IReadOnlyList<string> ClassNames { get; }

    /// <summary>Prompt templates (<c>{}</c> = class name).</summary>
    public IReadOnlyList<string> Templates { get; }

    /// <summary>Output column: one score per class in <see cref="ClassNames"/> order (softmax, or per-class sigmoids for SigLIP), slot names = class names.</summary>
    public string ScoreColumnName { get; }

    /// <summary>Output column: the best-scoring class as a key whose values are <see cref="ClassNames"/>.</summary>
    public string PredictedLabelColumnName { get; }

    /// <summary>Images per forward pass.</summary>
    public int BatchSize { get; }

    internal static void CheckArguments(IReadOnlyList<string> classNames, IReadOnlyList<string> templates)
    {
        if (classNames is null || classNames.Count < 2)
            throw new ArgumentException("Zero-shot classification needs at least two class names.", nameof(classNames));
        if (classNames.Any(string.IsNullOrWhiteSpace))
            throw new ArgumentException("Class names cannot be empty.", nameof(classNames));
        var duplicate = classNames.GroupBy(c => c).FirstOrDefault(g => g.Count() > 1);
        if (duplicate is not null)
            throw new ArgumentException($"The class name '{duplicate.Key}' appears twice.", nameof(classNames));
        if (templates is null || templates.Count == 0 || templates.Any(t => !t.Contains("{}")))
            throw new ArgumentException("Templates must be non-empty and each must contain '{}' where the class name goes.", nameof(templates));
    }

    private static float[] ComputeClassEmbeddings(ClipModelBundle bundle, IReadOnlyList<string> classNames, IReadOnlyList<string> templates)
    {
        CheckArguments(classNames, templates);
        using var use = bundle.EnterUse();
        var model = bundle.InferenceModel();
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var rows = new List<Tensor>();
        foreach (var name in classNames)
        {
            var prompts = templates.Select(t => (string?)PromptTemplates.Format(t, name)).ToList();
            var tokens = bundle.Tokenizer.EncodeBatch(prompts, bundle.ContextLength).to(model.Device);
            var embeddings = model.EncodeText(tokens, normalize: true).to(ScalarType.Float32);
            var mean = embeddings.mean([0]);
            rows.Add(mean / mean.norm());
        }
        var classes = stack(rows).cpu().contiguous();
        return classes.data<float>().ToArray();
    }

    private static ZeroShotClasses PrepareClasses(ClipModelBundle bundle, IReadOnlyList<string> classNames, IReadOnlyList<string> templates, float[] classEmbeddings)
    {
        using var use = bundle.EnterUse();
        var model = bundle.InferenceModel();
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        // Class-major order: prompt c·T + t is template t of class c.
        var prompts = classNames.SelectMany(name => templates.Select(t => (string?)PromptTemplates.Format(t, name))).ToList();
        var tokens = bundle.Tokenizer.EncodeBatch(prompts, bundle.ContextLength).to(model.Device);
        var classes = tensor(classEmbeddings, new long[] { classNames.Count, bundle.EmbeddingSize });
        return bundle.Scoring.PrepareZeroShot(model, classes, tokens, templates.Count);
    }

    private static VersionInfo GetVersionInfo() => new(
        modelSignature: "CLIPZSHT",
        verWrittenCur: 0x00010001,
        verReadableCur: 0x00010001,
        verWeCanReadBack: 0x00010001,
        loaderSignature: LoaderSignature,
        loaderAssemblyName: typeof(ClipZeroShotTransformer).Assembly.FullName);

    // *** Binary format ***
    // string: image column; string: score column; string: predicted label column; int: batch size
    // int K, K strings: class names; int T, T strings: templates
    // entry ClassEmbeddings.safetensors: "classes" [K, D]
    // ClipModelBundle
    /// <summary>Writes the transformer into an ML.NET model zip (called by <c>mlContext.Model.Save</c>); a plain <c>Model.Load</c> reads it back.</summary>
    private protected override void SaveModel(ModelSaveContext ctx)
    {
        ctx.CheckAtModel();
        ctx.SetVersionInfo(GetVersionInfo());
        ctx.SaveNonEmptyString(ImageColumnName);
        ctx.SaveNonEmptyString(ScoreColumnName);
        ctx.SaveNonEmptyString(PredictedLabelColumnName);
        ctx.Writer.Write(BatchSize);
        ctx.Writer.Write(ClassNames.Count);
        foreach (var c in ClassNames) ctx.SaveNonEmptyString(c);
        ctx.Writer.Write(Templates.Count);
        foreach (var t in Templates) ctx.SaveNonEmptyString(t);
        using (var classes = tensor(_classEmbeddings, new long[] { ClassNames.Count, Bundle.EmbeddingSize }))
            ctx.SaveTensors(ClassEmbeddingsEntry, [new("classes", classes)]);
        Bundle.Save(ctx);
    }

    private static ClipZeroShotTransformer Create(IHostEnvironment env, ModelLoadContext ctx)
    {
        env.CheckValue(ctx, nameof(ctx));
        ctx.CheckAtModel(GetVersionInfo());
        string image = ctx.LoadNonEmptyString(), score = ctx.LoadNonEmptyString(), label = ctx.LoadNonEmptyString();
        int batchSize = ctx.Reader.ReadInt32();
        var classes = Enumerable.Range(0, ReadCount(ctx, "class")).Select(_ => ctx.LoadNonEmptyString()).ToArray();
        var templates = Enumerable.Range(0, ReadCount(ctx, "template")).Select(_ => ctx.LoadNonEmptyString()).ToArray();
        var tensors = ctx.LoadTensors(ClassEmbeddingsEntry);
        var bundle = ClipModelBundle.Load(ctx);
        if (!tensors.TryGetValue("classes", out var embeddings) || embeddings.dim() != 2
            || embeddings.shape[0] != classes.Length || embeddings.shape[1] != bundle.EmbeddingSize || embeddings.dtype != ScalarType.Float32)
            throw new InvalidDataException($"The class embeddings in '{ctx.Directory}' do not match {classes.Length} classes of size {bundle.EmbeddingSize}.");
        return new ClipZeroShotTransformer(env, bundle, image, classes, templates, score, label, batchSize, embeddings.data<float>().ToArray());
    }

    private static int ReadCount(ModelLoadContext ctx, string what)
    {
        int count = ctx.Reader.ReadInt32();
        if (count < 0 || count > 1_000_000) throw new InvalidDataException($"The zero-shot model in '{ctx.Directory}' declares {count} {what}s.");
        return count;
    }

    private static IRowMapper Create(IHostEnvironment env, ModelLoadContext ctx, DataViewSchema inputSchema)
        => Create(env, ctx).MakeRowMapper(inputSchema);

    private protected override BatchedRowMapper CreateBatchedMapper(DataViewSchema inputSchema) => new Mapper(this, inputSchema);

    /// <summary>The output columns with their annotations (slot names, key values).</summary>
    internal DataViewSchema.DetachedColumn[] OutputColumns()
    {
        int k = ClassNames.Count;
        var names = ClassNames.Select(c => c.AsMemory()).ToArray();
        ValueGetter<VBuffer<ReadOnlyMemory<char>>> getNames = (ref VBuffer<ReadOnlyMemory<char>> value) =>
            value = new VBuffer<ReadOnlyMemory<char>>(k, (ReadOnlyMemory<char>[])names.Clone());

        var scoreAnnotations = new DataViewSchema.Annotations.Builder();
        scoreAnnotations.AddSlotNames(k, getNames);
        var keyAnnotations = new DataViewSchema.Annotations.Builder();
        keyAnnotations.AddKeyValues(k, TextDataViewType.Instance, getNames);
        return
        [
            new DataViewSchema.DetachedColumn(ScoreColumnName, new VectorDataViewType(NumberDataViewType.Single, k), scoreAnnotations.ToAnnotations()),
            new DataViewSchema.DetachedColumn(PredictedLabelColumnName, new KeyDataViewType(typeof(uint), k), keyAnnotations.ToAnnotations()),
        ];
    }

    private sealed class Mapper : BatchedRowMapper
    {
        private readonly ClipZeroShotTransformer _owner;
        private readonly ImageInput _image;
        private readonly DataViewSchema.DetachedColumn[] _outputs;

        public Mapper(ClipZeroShotTransformer owner, DataViewSchema inputSchema) : base(inputSchema, owner.BatchSize)
        {
            _owner = owner;
            _image = ImageInput.Bind(inputSchema, owner.ImageColumnName, new ClipImagePreprocessor(owner.Bundle.Preprocessing));
            _outputs = owner.OutputColumns();
        }

        public override DataViewSchema.DetachedColumn[] OutputColumns => _outputs;

        public override int[] InputColumns => [_image.ColumnIndex];

        public override BatchSession CreateSession(DataViewRow input) => new Session(_owner, input, _image, [_owner.ClassNames.Count, 1]);

        /// <summary>
        /// Score: the scoring's probabilities of the scaled cosines to the saved class embeddings; PredictedLabel: the
        /// 1-based key of the best class. Token-wise (FILIP) scoring is refused.
        /// </summary>
        public override void SaveAsOnnx(OnnxContext context)
        {
            var bundle = _owner.Bundle;
            if (bundle.Scoring.OnnxExportLimitation is { } limitation)
                throw new NotSupportedException(limitation);
            var graph = new OnnxGraph(new OnnxContextSink(context, nameof(ClipZeroShotTransformer)));
            using var scope = NewDisposeScope();
            var pixels = OnnxStageInputs.Pixels(context, graph, InputSchema[_image.ColumnIndex], bundle.Preprocessing.ImageSize);
            var image = bundle.Model.EmitImageEncoder(graph, pixels, normalize: true);
            var classes = tensor(_owner._classEmbeddings, new long[] { _owner.ClassNames.Count, bundle.EmbeddingSize }).t();
            var similarities = graph.MatMul(image, graph.Float32(classes, "class_embeddings"), "similarities");
            var probabilities = bundle.Scoring.EmitOnnxProbabilities(graph, bundle.Model, similarities);
            OnnxStageInputs.Output(context, probabilities, _outputs[0].Name, _outputs[0].Type);
            var best = graph.Op("ArgMax", "best_class", [probabilities], new OnnxAttribute("axis", 1L), new OnnxAttribute("keepdims", 1L));
            var key = graph.Add(best, graph.Sink.AddInitializer("key_offset", OnnxTensor.Int64([], 1)), "best_key"); // keys are 1-based
            OnnxStageInputs.Output(context, graph.Cast(key, OnnxElementType.UInt32, "predicted_key"), _outputs[1].Name, _outputs[1].Type);
        }
    }

    private sealed class Session(ClipZeroShotTransformer owner, DataViewRow row, ImageInput image, int[] outputSizes)
        : ClipInputSession(row, image, null, outputSizes)
    {
        public override void Compute(RowBatch batch)
        {
            var b = (ClipInputBatch)batch;
            var bundle = owner.Bundle;
            using var use = bundle.EnterUse();
            var model = bundle.InferenceModel();
            int k = owner.ClassNames.Count;
            using var scope = NewDisposeScope();
            using var noGrad = no_grad();
            var pixels = b.PixelTensor(bundle.Preprocessing.ImageSize).to(model.Device);
            var similarities = owner._classes.Similarities(model, pixels);
            var probabilities = bundle.Scoring.Probabilities(model, similarities).contiguous();
            probabilities.data<float>().CopyTo(b.Outputs[0].AsSpan(0, b.Count * k));
            var best = ScalarSafe.AddInPlace(probabilities.argmax(1).to(ScalarType.Float32), 1); // keys are 1-based
            best.data<float>().CopyTo(b.Outputs[1].AsSpan(0, b.Count));
        }
    }
}
