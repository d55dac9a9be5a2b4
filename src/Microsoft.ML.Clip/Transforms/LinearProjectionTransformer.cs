using System;
using System.Collections.Generic;
using System.IO;
using Microsoft.ML;
using Microsoft.ML.Clip.Persistence;
using Microsoft.ML.Clip.Transforms;
using Microsoft.ML.Clip.Transforms.Batching;
using Microsoft.ML.Data;
using Microsoft.ML.Internal.Utilities;
using Microsoft.ML.Runtime;
using TorchSharp;
using static TorchSharp.torch;

[assembly: LoadableClass(typeof(LinearProjectionTransformer), null, typeof(SignatureLoadModel),
    "Linear Projection (TorchSharp)", LinearProjectionTransformer.LoaderSignature)]
[assembly: LoadableClass(typeof(IRowMapper), typeof(LinearProjectionTransformer), null, typeof(SignatureLoadRowMapper),
    "Linear Projection (TorchSharp)", LinearProjectionTransformer.LoaderSignature)]

namespace Microsoft.ML.Clip.Transforms;

/// <summary>
/// Applies a fixed linear map <c>y = W·x + b</c> (optionally L2-normalized) held as TorchSharp tensors to a
/// float vector column: for example a projection head exported from PyTorch, or an adapter applied to CLIP
/// embeddings. The weights are saved inside the ML.NET model zip.
/// </summary>
public sealed class LinearProjectionTransformer : BatchedTransformerBase
{
    internal const string LoaderSignature = "ClipLinearProjection";
    private const string TensorEntry = "Projection.safetensors";

    private const int DefaultBatchSize = 256;

    private readonly Tensor _weight;
    private readonly Tensor? _bias;

    /// <summary>The column added (or replaced, when it equals the input): a vector of <see cref="OutputSize"/> floats.</summary>
    public string OutputColumnName { get; }

    /// <summary>Name of the input column (a known-size vector of <see cref="float"/>).</summary>
    public string InputColumnName { get; }

    /// <summary>Whether outputs are scaled to unit L2 norm.</summary>
    public bool Normalize { get; }

    /// <summary>Input vector size (columns of the weight matrix).</summary>
    public int InputSize => (int)_weight.shape[1];

    /// <summary>Output vector size (rows of the weight matrix).</summary>
    public int OutputSize => (int)_weight.shape[0];

    internal LinearProjectionTransformer(IHostEnvironment env, string outputColumnName, string inputColumnName,
        Tensor weight, Tensor? bias, bool normalize)
        : base(Contracts.CheckRef(env, nameof(env)).Register(nameof(LinearProjectionTransformer)))
    {
        Host.CheckNonEmpty(outputColumnName, nameof(outputColumnName));
        Host.CheckNonEmpty(inputColumnName, nameof(inputColumnName));
        Host.CheckValue(weight, nameof(weight));
        if (weight.dim() != 2)
            throw Host.ExceptParam(nameof(weight), $"The projection weight must be a matrix [outputSize, inputSize]; got shape [{string.Join(", ", weight.shape)}].");
        if (bias is not null && (bias.dim() != 1 || bias.shape[0] != weight.shape[0]))
            throw Host.ExceptParam(nameof(bias), $"The projection bias must have shape [{weight.shape[0]}]; got [{string.Join(", ", bias.shape)}].");

        OutputColumnName = outputColumnName;
        InputColumnName = inputColumnName;
        Normalize = normalize;
        // Private fp32 CPU copies: the caller keeps ownership of what it passed in.
        _weight = weight.detach().to(ScalarType.Float32, CPU).clone();
        _bias = bias?.detach().to(ScalarType.Float32, CPU).clone();
    }

    private static VersionInfo GetVersionInfo() => new(
        modelSignature: "CLIPLPRJ",
        verWrittenCur: 0x00010001,
        verReadableCur: 0x00010001,
        verWeCanReadBack: 0x00010001,
        loaderSignature: LoaderSignature,
        loaderAssemblyName: typeof(LinearProjectionTransformer).Assembly.FullName);

    // Factory for SignatureLoadModel: called by ML.NET's Model.Load.
    private static LinearProjectionTransformer Create(IHostEnvironment env, ModelLoadContext ctx)
    {
        Contracts.CheckValue(env, nameof(env));
        env.CheckValue(ctx, nameof(ctx));
        ctx.CheckAtModel(GetVersionInfo());

        // *** Binary format ***
        // string: output column name
        // string: input column name
        // bool: normalize
        // entry Projection.safetensors: "weight" [out, in] and optionally "bias" [out]
        string output = ctx.LoadNonEmptyString();
        string input = ctx.LoadNonEmptyString();
        bool normalize = ctx.Reader.ReadBoolByte();
        var tensors = ctx.LoadTensors(TensorEntry);
        if (!tensors.TryGetValue("weight", out var weight))
            throw new InvalidDataException($"The saved projection in '{ctx.Directory}' has no 'weight' tensor.");
        tensors.TryGetValue("bias", out var bias);
        return new LinearProjectionTransformer(env, output, input, weight, bias, normalize);
    }

    // Factory for SignatureLoadRowMapper.
    private static IRowMapper Create(IHostEnvironment env, ModelLoadContext ctx, DataViewSchema inputSchema)
        => Create(env, ctx).MakeRowMapper(inputSchema);

    /// <summary>Writes the transformer into an ML.NET model zip (called by <c>mlContext.Model.Save</c>); a plain <c>Model.Load</c> reads it back.</summary>
    private protected override void SaveModel(ModelSaveContext ctx)
    {
        Host.CheckValue(ctx, nameof(ctx));
        ctx.CheckAtModel();
        ctx.SetVersionInfo(GetVersionInfo());
        ctx.SaveNonEmptyString(OutputColumnName);
        ctx.SaveNonEmptyString(InputColumnName);
        ctx.Writer.WriteBoolByte(Normalize);
        var tensors = new List<KeyValuePair<string, Tensor>> { new("weight", _weight) };
        if (_bias is not null) tensors.Add(new("bias", _bias));
        ctx.SaveTensors(TensorEntry, tensors);
    }

    private protected override BatchedRowMapper CreateBatchedMapper(DataViewSchema inputSchema) =>
        new Mapper(this, inputSchema);

    /// <summary>Checks the input column of <paramref name="schema"/>; the message names the column and the expected type.</summary>
    internal int CheckInputColumn(DataViewSchema schema) =>
        FloatVectorColumn.Find(Host, schema, InputColumnName, "input", InputSize).Column.Index;

    /// <summary>Projects <paramref name="rows"/> rows of <paramref name="source"/> ([rows × InputSize]) into <paramref name="destination"/>.</summary>
    internal void Project(float[] source, int rows, float[] destination)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var x = torch.from_array(source).narrow(0, 0, (long)rows * InputSize).view(rows, InputSize);
        var y = nn.functional.linear(x, _weight, _bias);
        if (Normalize)
            y = nn.functional.normalize(y, p: 2, dim: 1);
        y.contiguous().data<float>().CopyTo(destination.AsSpan(0, rows * OutputSize));
    }

    private sealed class Mapper(LinearProjectionTransformer owner, DataViewSchema inputSchema)
        : BatchedRowMapper(inputSchema, DefaultBatchSize)
    {
        private readonly int _inputIndex = owner.CheckInputColumn(inputSchema);

        public override DataViewSchema.DetachedColumn[] OutputColumns =>
            [new DataViewSchema.DetachedColumn(owner.OutputColumnName, new VectorDataViewType(NumberDataViewType.Single, owner.OutputSize))];

        public override int[] InputColumns => [_inputIndex];

        public override BatchSession CreateSession(DataViewRow input) =>
            new Session(owner, input.GetGetter<VBuffer<float>>(input.Schema[_inputIndex]));
    }

    private sealed class Session(LinearProjectionTransformer owner, ValueGetter<VBuffer<float>> getInput) : BatchSession
    {
        private VBuffer<float> _row;

        public override RowBatch CreateBatch(int capacity) => new InputBatch(capacity, owner.InputSize, owner.OutputSize);

        public override void ReadRow(RowBatch batch, int slot, long rowIndex)
        {
            getInput(ref _row);
            _row.CopyTo(((InputBatch)batch).Inputs.AsSpan(slot * owner.InputSize, owner.InputSize));
        }

        public override void Compute(RowBatch batch) =>
            owner.Project(((InputBatch)batch).Inputs, batch.Count, batch.Outputs[0]);
    }

    private sealed class InputBatch(int capacity, int inputSize, int outputSize) : RowBatch(capacity, [outputSize])
    {
        public float[] Inputs { get; } = new float[capacity * inputSize];
    }
}
