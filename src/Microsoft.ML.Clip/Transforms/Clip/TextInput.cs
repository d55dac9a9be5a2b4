using System;
using System.IO;
using Microsoft.ML;
using Microsoft.ML.Clip.Tokenization;
using Microsoft.ML.Data;

namespace Microsoft.ML.Clip.Transforms.Clip;

/// <summary>
/// Reads a caption column into fixed-length CLIP token ids: text (tokenized in parallel later), or token ids
/// already made by the caller (a vector of Int32 or Int64 ids of at most the context length, padded here with the
/// tokenizer's pad id: 0 for CLIP, the end token for SigLIP).
/// </summary>
internal sealed class TextInput
{
    private readonly ClipTextTokenizer _tokenizer;
    private readonly int _vocabularySize;

    private TextInput(string columnName, int columnIndex, ClipTextTokenizer tokenizer, int contextLength, bool tokenIds, int vocabularySize)
    {
        ColumnName = columnName;
        ColumnIndex = columnIndex;
        _tokenizer = tokenizer;
        ContextLength = contextLength;
        IsTokenIds = tokenIds;
        _vocabularySize = vocabularySize;
    }

    /// <summary>True when the column holds token ids rather than text.</summary>
    public bool IsTokenIds { get; }

    public const string ExpectedType = "String (a caption) or Vector<Int32>/Vector<Int64> (token ids, at most the context length)";

    public string ColumnName { get; }

    public int ColumnIndex { get; }

    public int ContextLength { get; }

    /// <summary>Finds and checks the column; the error names it and the expected type.</summary>
    /// <param name="schema">The input schema.</param>
    /// <param name="columnName">The caption column.</param>
    /// <param name="tokenizer">Tokenizes text captions.</param>
    /// <param name="contextLength">Token ids per caption.</param>
    /// <param name="vocabularySize">Token ids given as a vector column must be below this (the model's vocabulary); null: the tokenizer's.</param>
    /// <remarks>The default name <c>Text</c> reads the loaders' <c>Caption</c> when only that is present (<see cref="DefaultColumns"/>).</remarks>
    public static TextInput Bind(DataViewSchema schema, string columnName, ClipTextTokenizer tokenizer, int contextLength, int? vocabularySize = null)
    {
        columnName = DefaultColumns.Resolve(columnName, name => schema.GetColumnOrNull(name) is not null);
        if (!schema.TryGetColumnIndex(columnName, out int index))
            throw new ArgumentOutOfRangeException(nameof(schema), DefaultColumns.NotFound("Text", columnName, ExpectedType));
        var type = schema[index].Type;
        bool ids = IsTokenIdType(type);
        if (!ids && type is not TextDataViewType)
            throw new ArgumentOutOfRangeException(nameof(schema), $"Text column '{columnName}' has type {type}; expected {ExpectedType}.");
        if (ids && type is VectorDataViewType { Size: > 0 } fixedSize && fixedSize.Size > contextLength)
            throw new ArgumentOutOfRangeException(nameof(schema), $"Text column '{columnName}' holds {fixedSize.Size} token ids; the model's context length is {contextLength}.");
        return new TextInput(columnName, index, tokenizer, contextLength, ids, vocabularySize ?? tokenizer.VocabularySize);
    }

    private static bool IsTokenIdType(DataViewType type) =>
        type is VectorDataViewType { ItemType: var item } && (item == NumberDataViewType.Int32 || item == NumberDataViewType.Int64);

    /// <summary>Checks a schema shape (estimators' GetOutputSchema).</summary>
    public static void Check(SchemaShape schema, string columnName)
    {
        columnName = DefaultColumns.Resolve(columnName, name => schema.TryFindColumn(name, out _));
        if (!schema.TryFindColumn(columnName, out var column))
            throw new ArgumentOutOfRangeException(nameof(schema), DefaultColumns.NotFound("Text", columnName, ExpectedType));
        bool text = column.Kind == SchemaShape.Column.VectorKind.Scalar && column.ItemType is TextDataViewType;
        bool ids = column.Kind != SchemaShape.Column.VectorKind.Scalar && (column.ItemType == NumberDataViewType.Int32 || column.ItemType == NumberDataViewType.Int64);
        if (!text && !ids)
            throw new ArgumentOutOfRangeException(nameof(schema), $"Text column '{columnName}' has type {column.GetTypeString()}; expected {ExpectedType}.");
    }

    public Reader CreateReader(DataViewRow row) => new(this, row);

    internal sealed class Reader
    {
        private readonly TextInput _input;
        private readonly ValueGetter<ReadOnlyMemory<char>>? _text;
        private readonly Func<long, Span<long>, int>? _ids;
        private ReadOnlyMemory<char> _caption;

        public Reader(TextInput input, DataViewRow row)
        {
            _input = input;
            var column = row.Schema[input.ColumnIndex];
            if (!input.IsTokenIds)
                _text = row.GetGetter<ReadOnlyMemory<char>>(column);
            else if (column.Type.GetItemType() == NumberDataViewType.Int32)
                _ids = IdReader<int>(row.GetGetter<VBuffer<int>>(column));
            else
                _ids = IdReader<long>(row.GetGetter<VBuffer<long>>(column));
        }

        /// <summary>
        /// Reads the current row: returns the caption (tokenized later, in parallel, by <see cref="Tokenize"/>), or
        /// for a token-id column writes the ids, padded with the tokenizer's pad id, into <paramref name="tokens"/> and returns null.
        /// </summary>
        public string? Read(long row, Span<long> tokens)
        {
            try
            {
                if (_text is not null)
                {
                    _text(ref _caption);
                    return _caption.ToString();
                }
                int count = _ids!(row, tokens);
                tokens[count..].Fill(_input._tokenizer.PadId);
                return null;
            }
            catch (Exception ex) when (ex is not OperationCanceledException && ex is not ClipInputException)
            {
                throw new ClipInputException(_input.ColumnName, row, ex);
            }
        }

        private Func<long, Span<long>, int> IdReader<T>(ValueGetter<VBuffer<T>> getter) where T : struct, IConvertible
        {
            VBuffer<T> buffer = default;
            return (row, tokens) =>
            {
                getter(ref buffer);
                if (buffer.Length > tokens.Length)
                    throw new InvalidDataException($"{buffer.Length} token ids; the context length is {tokens.Length}");
                tokens[..buffer.Length].Clear();
                var values = buffer.GetValues();
                var indices = buffer.GetIndices();
                for (int i = 0; i < values.Length; i++)
                {
                    long id = values[i].ToInt64(null);
                    if (id < 0 || id >= _input._vocabularySize)
                        throw new InvalidDataException($"token id {id} at position {(buffer.IsDense ? i : indices[i])} is outside the vocabulary [0, {_input._vocabularySize})");
                    tokens[buffer.IsDense ? i : indices[i]] = id;
                }
                return buffer.Length;
            };
        }
    }

    /// <summary>Tokenizes <paramref name="count"/> captions into <paramref name="destination"/> ([count × ContextLength] ids).</summary>
    public void Tokenize(string?[] captions, int count, long[] destination)
    {
        if (IsTokenIds)
            return; // written by the reader
        _tokenizer.EncodeRows(captions, 0, count, ContextLength, destination);
    }
}
