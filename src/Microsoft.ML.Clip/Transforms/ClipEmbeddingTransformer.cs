using System;
using System.Collections.Generic;
using Microsoft.ML.Clip.Training;
using Microsoft.ML;
using Microsoft.ML.Clip.Imaging;
using Microsoft.ML.Clip.Transforms;
using Microsoft.ML.Clip.Transforms.Batching;
using Microsoft.ML.Clip.Transforms.Clip;
using Microsoft.ML.Data;
using Microsoft.ML.Clip.Onnx;
using Microsoft.ML.Clip.Transforms.Onnx;
using Microsoft.ML.Model.OnnxConverter;
using Microsoft.ML.Runtime;
using static TorchSharp.torch;

[assembly: LoadableClass(typeof(ClipEmbeddingTransformer), null, typeof(SignatureLoadModel),
    "CLIP Embedding", ClipEmbeddingTransformer.LoaderSignature)]
[assembly: LoadableClass(typeof(IRowMapper), typeof(ClipEmbeddingTransformer), null, typeof(SignatureLoadRowMapper),
    "CLIP Embedding", ClipEmbeddingTransformer.LoaderSignature)]

namespace Microsoft.ML.Clip.Transforms;

/// <summary>
/// Adds L2-normalized CLIP embeddings of an image column and/or a text column: vectors of
/// <see cref="ClipModelBundle.EmbeddingSize"/> floats, usable as features by any ML.NET trainer and
/// comparable with each other by dot product. Produced by <c>ClipImageEmbedding</c>, <c>ClipTextEmbedding</c>
/// and a fitted <c>ClipPretrain</c>. Scoring reads the input in batches, decoding the next batch while the
/// model runs on the current one.
/// </summary>
public sealed class ClipEmbeddingTransformer : BatchedTransformerBase
{
    internal const string LoaderSignature = "ClipEmbeddingTransformer";

    internal ClipEmbeddingTransformer(IHostEnvironment env, ClipModelBundle bundle,
        (string Output, string Input)? image, (string Output, string Input)? text, int batchSize)
        : base(Contracts.CheckRef(env, nameof(env)).Register(nameof(ClipEmbeddingTransformer)))
    {
        Host.CheckValue(bundle, nameof(bundle));
        Host.CheckUserArg(image is not null || text is not null, nameof(image), "At least one of the image and text columns must be given.");
        Host.CheckUserArg(batchSize > 0, nameof(batchSize), "The batch size must be positive.");
        Bundle = bundle;
        Image = image;
        Text = text;
        BatchSize = batchSize;
    }

    /// <summary>The model, tokenizer and preprocessing.</summary>
    public ClipModelBundle Bundle { get; }

    /// <summary>Image embedding: (output column, input column), or null.</summary>
    public (string Output, string Input)? Image { get; }

    /// <summary>Text embedding: (output column, input column), or null.</summary>
    public (string Output, string Input)? Text { get; }

    /// <summary>Rows per batch when scoring an IDataView.</summary>
    public int BatchSize { get; }

    /// <summary>What training produced this model (loss curve, validation recall), when it came from <c>ClipPretrain</c>.</summary>
    public ClipPretrainReport? TrainingReport { get; internal set; }

    private static VersionInfo GetVersionInfo() => new(
        modelSignature: "CLIPEMBD",
        verWrittenCur: 0x00010001,
        verReadableCur: 0x00010001,
        verWeCanReadBack: 0x00010001,
        loaderSignature: LoaderSignature,
        loaderAssemblyName: typeof(ClipEmbeddingTransformer).Assembly.FullName);

    // *** Binary format ***
    // int: batch size
    // bool + 2 strings: image (output, input)
    // bool + 2 strings: text (output, input)
    // ClipModelBundle (see ClipModelBundle.Save)
    /// <summary>Writes the transformer into an ML.NET model zip (called by <c>mlContext.Model.Save</c>); a plain <c>Model.Load</c> reads it back.</summary>
    private protected override void SaveModel(ModelSaveContext ctx)
    {
        ctx.CheckAtModel();
        ctx.SetVersionInfo(GetVersionInfo());
        ctx.Writer.Write(BatchSize);
        WritePair(ctx, Image);
        WritePair(ctx, Text);
        Bundle.Save(ctx);
    }

    private static ClipEmbeddingTransformer Create(IHostEnvironment env, ModelLoadContext ctx)
    {
        env.CheckValue(ctx, nameof(ctx));
        ctx.CheckAtModel(GetVersionInfo());
        int batchSize = ctx.Reader.ReadInt32();
        var image = ReadPair(ctx);
        var text = ReadPair(ctx);
        return new ClipEmbeddingTransformer(env, ClipModelBundle.Load(ctx), image, text, batchSize);
    }

    private static IRowMapper Create(IHostEnvironment env, ModelLoadContext ctx, DataViewSchema inputSchema)
        => Create(env, ctx).MakeRowMapper(inputSchema);

    internal static void WritePair(ModelSaveContext ctx, (string Output, string Input)? pair)
    {
        ctx.Writer.Write(pair is not null);
        if (pair is { } p)
        {
            ctx.SaveNonEmptyString(p.Output);
            ctx.SaveNonEmptyString(p.Input);
        }
    }

    internal static (string, string)? ReadPair(ModelLoadContext ctx) =>
        ctx.Reader.ReadBoolean() ? (ctx.LoadNonEmptyString(), ctx.LoadNonEmptyString()) : null;

    private protected override BatchedRowMapper CreateBatchedMapper(DataViewSchema inputSchema) => new Mapper(this, inputSchema);

    private sealed class Mapper : BatchedRowMapper
    {
        private readonly ClipEmbeddingTransformer _owner;
        private readonly ImageInput? _image;
        private readonly TextInput? _text;
        private readonly DataViewSchema.DetachedColumn[] _outputs;

        public Mapper(ClipEmbeddingTransformer owner, DataViewSchema inputSchema) : base(inputSchema, owner.BatchSize)
        {
            _owner = owner;
            var bundle = owner.Bundle;
            var vector = new VectorDataViewType(NumberDataViewType.Single, bundle.EmbeddingSize);
            var outputs = new List<DataViewSchema.DetachedColumn>();
            var inputs = new List<int>();
            if (owner.Image is { } image)
            {
                _image = ImageInput.Bind(inputSchema, image.Input, new ClipImagePreprocessor(bundle.Preprocessing));
                outputs.Add(new DataViewSchema.DetachedColumn(image.Output, vector));
                inputs.Add(_image.ColumnIndex);
            }
            if (owner.Text is { } text)
            {
                _text = TextInput.Bind(inputSchema, text.Input, bundle.Tokenizer, bundle.ContextLength, bundle.Model.Config.Text.VocabSize);
                outputs.Add(new DataViewSchema.DetachedColumn(text.Output, vector));
                inputs.Add(_text.ColumnIndex);
            }
            _outputs = outputs.ToArray();
            InputColumns = inputs.ToArray();
        }

        public override DataViewSchema.DetachedColumn[] OutputColumns => _outputs;

        public override int[] InputColumns { get; }

        public override BatchSession CreateSession(DataViewRow input) =>
            new Session(_owner.Bundle, input, _image, _text, Array.ConvertAll(_outputs, c => OutputGetters.SlotsPerRow(c.Type)));

        /// <summary>The normalised embeddings of the float32 model (whatever the bundle's inference dtype), from pixel and token-id columns.</summary>
        public override void SaveAsOnnx(OnnxContext context)
        {
            var bundle = _owner.Bundle;
            var graph = new OnnxGraph(new OnnxContextSink(context, nameof(ClipEmbeddingTransformer)));
            using var scope = NewDisposeScope();
            int output = 0;
            if (_image is not null)
            {
                var pixels = OnnxStageInputs.Pixels(context, graph, InputSchema[_image.ColumnIndex], bundle.Preprocessing.ImageSize);
                var column = _outputs[output++];
                OnnxStageInputs.Output(context, bundle.Model.EmitImageEncoder(graph, pixels, normalize: true), column.Name, column.Type);
            }
            if (_text is not null)
            {
                var tokens = OnnxStageInputs.TokenIds(context, graph, InputSchema[_text.ColumnIndex], bundle.ContextLength, bundle.Tokenizer.PadId);
                var column = _outputs[output];
                OnnxStageInputs.Output(context, bundle.Model.EmitTextEncoder(graph, tokens, bundle.ContextLength, normalize: true), column.Name, column.Type);
            }
        }
    }

    private sealed class Session(ClipModelBundle bundle, DataViewRow row, ImageInput? image, TextInput? text, int[] outputSizes)
        : ClipInputSession(row, image, text, outputSizes)
    {
        public override void Compute(RowBatch batch)
        {
            var b = (ClipInputBatch)batch;
            int output = 0;
            if (HasImage)
                bundle.EncodeImagesInto(b.Pixels, b.Count, b.Outputs[output++], normalize: true);
            if (HasText)
                bundle.EncodeTextsInto(b.Tokens, b.Count, b.Outputs[output], normalize: true);
        }
    }
}
