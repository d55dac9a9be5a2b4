using System;
using System.Linq;
using Microsoft.ML;
using Microsoft.ML.Clip.Torch;
using Microsoft.ML.Clip.Transforms.Batching;
using static TorchSharp.torch;

namespace Microsoft.ML.Clip.Transforms.Clip;

/// <summary>A batch of CLIP inputs: preprocessed pixels and/or token ids, plus the stage's outputs.</summary>
internal sealed class ClipInputBatch : RowBatch
{
    public ClipInputBatch(int capacity, int[] outputSizes, ImageInput? image, TextInput? text) : base(capacity, outputSizes)
    {
        if (image is not null)
        {
            Pixels = new float[capacity * image.Length];
            Encoded = new byte[]?[capacity];
        }
        if (text is not null)
        {
            Captions = new string?[capacity];
            Tokens = new long[capacity * text.ContextLength];
        }
    }

    public float[]? Pixels { get; }

    public byte[]?[]? Encoded { get; }

    public string?[]? Captions { get; }

    public long[]? Tokens { get; }

    private bool[]? _bad;

    /// <summary>Marks a slot whose row could not be read (thread-safe: slots are distinct).</summary>
    public void MarkBad(int slot)
    {
        var bad = _bad ?? System.Threading.Interlocked.CompareExchange(ref _bad, new bool[Capacity], null) ?? _bad!;
        bad[slot] = true;
        if (Encoded is not null) Encoded[slot] = null;
    }

    /// <summary>Moves the good rows to the front, in order, and shrinks <see cref="RowBatch.Count"/>.</summary>
    public void RemoveBadRows(int pixelsPerRow, int tokensPerRow)
    {
        if (_bad is null) return;
        int kept = 0;
        for (int slot = 0; slot < Count; slot++)
        {
            if (_bad[slot]) continue;
            if (kept != slot)
            {
                RowIndices[kept] = RowIndices[slot];
                if (Pixels is not null) Array.Copy(Pixels, slot * pixelsPerRow, Pixels, kept * pixelsPerRow, pixelsPerRow);
                if (Captions is not null) Captions[kept] = Captions[slot];
                if (Tokens is not null) Array.Copy(Tokens, slot * tokensPerRow, Tokens, kept * tokensPerRow, tokensPerRow); // ids read from a token-id column
            }
            kept++;
        }
        Count = kept;
        Array.Clear(_bad);
    }

    /// <summary>The pixels of the batch's rows as a [Count, 3, S, S] tensor (a copy).</summary>
    public Tensor PixelTensor(int imageSize) =>
        SpanTensors.FromSpan<float>(Pixels.AsSpan(0, Count * 3 * imageSize * imageSize), [Count, 3, imageSize, imageSize], ScalarType.Float32);

    /// <summary>The token ids of the batch's rows as a [Count, L] tensor (a copy).</summary>
    public Tensor TokenTensor(int contextLength) =>
        SpanTensors.FromSpan<long>(Tokens.AsSpan(0, Count * contextLength), [Count, contextLength], ScalarType.Int64);
}

/// <summary>
/// Reads image and/or caption columns into <see cref="ClipInputBatch"/>es: raw values on the reading thread,
/// decoding, preprocessing and tokenization in parallel in <see cref="Prepare"/>. Subclasses compute outputs.
/// </summary>
internal class ClipInputSession : BatchSession
{
    private readonly ImageInput? _image;
    private readonly TextInput? _text;
    private readonly ImageInput.Reader? _imageReader;
    private readonly TextInput.Reader? _textReader;
    private readonly int[] _outputSizes;

    private readonly Action<ClipInputException>? _onBadRow;

    /// <param name="row">The input row (cursor).</param>
    /// <param name="image">The image column, or null.</param>
    /// <param name="text">The caption column, or null.</param>
    /// <param name="outputSizes">Floats per row of each output column.</param>
    /// <param name="onBadRow">
    /// Null (default): a bad row fails the batch with a <see cref="ClipInputException"/>. Otherwise bad rows are
    /// reported here and left out of their batch (used by training, where a row can be dropped; a scoring
    /// stage must produce every row and so always fails).
    /// </param>
    public ClipInputSession(DataViewRow row, ImageInput? image, TextInput? text, int[] outputSizes, Action<ClipInputException>? onBadRow = null)
    {
        _onBadRow = onBadRow;
        _image = image;
        _text = text;
        _imageReader = image?.CreateReader(row);
        _textReader = text?.CreateReader(row);
        _outputSizes = outputSizes;
    }

    protected bool HasImage => _image is not null;

    protected bool HasText => _text is not null;

    public override RowBatch CreateBatch(int capacity) => new ClipInputBatch(capacity, _outputSizes, _image, _text);

    public override void ReadRow(RowBatch batch, int slot, long rowIndex)
    {
        var b = (ClipInputBatch)batch;
        try
        {
            if (_imageReader is not null)
                b.Encoded![slot] = _imageReader.Read(b.Pixels.AsSpan(slot * _image!.Length, _image.Length), rowIndex);
            if (_textReader is not null)
                b.Captions![slot] = _textReader.Read(rowIndex, b.Tokens.AsSpan(slot * _text!.ContextLength, _text.ContextLength));
        }
        catch (ClipInputException error) when (_onBadRow is not null)
        {
            b.MarkBad(slot);
            _onBadRow(error);
        }
    }

    public override void Prepare(RowBatch batch)
    {
        var b = (ClipInputBatch)batch;
        _image?.Decode(b.Encoded!, b.Count, b.Pixels!, b.RowIndices,
            _onBadRow is null ? null : (slot, error) => { b.MarkBad(slot); _onBadRow(error); });
        b.RemoveBadRows(_image?.Length ?? 0, _text?.ContextLength ?? 0);
        if (_text is not null)
        {
            _text.Tokenize(b.Captions!, b.Count, b.Tokens!);
            Array.Clear(b.Captions!);
        }
    }

    public override void Compute(RowBatch batch) { }

    public override Exception DescribeReadFailure(Exception error, long position)
    {
        // ML.NET's consolidating cursors wrap a worker's failure; the inner exception says what went wrong.
        var cause = error is InvalidOperationException { InnerException: { } inner } ? inner : error;
        string columns = string.Join("', '", new[] { _image?.ColumnName, _text?.ColumnName }.Where(c => c is not null));
        return new ClipInputException(columns, position, cause);
    }
}
