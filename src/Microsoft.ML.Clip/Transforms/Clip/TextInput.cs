using System;
using Microsoft.ML;
using Microsoft.ML.Clip.Tokenization;
using Microsoft.ML.Data;

namespace Microsoft.ML.Clip.Transforms;

/// <summary>Reads a text column and tokenizes it into fixed-length CLIP token ids.</summary>
internal sealed class TextInput
{
    private readonly ClipTokenizer _tokenizer;

    private TextInput(string columnName, int columnIndex, ClipTokenizer tokenizer, int contextLength)
    {
        ColumnName = columnName;
        ColumnIndex = columnIndex;
        _tokenizer = tokenizer;
        ContextLength = contextLength;
    }

    public string ColumnName { get; }

    public int ColumnIndex { get; }

    public int ContextLength { get; }

    /// <summary>Finds and checks the column; the error names it and the expected type.</summary>
    public static TextInput Bind(DataViewSchema schema, string columnName, ClipTokenizer tokenizer, int contextLength)
    {
        if (!schema.TryGetColumnIndex(columnName, out int index))
            throw new ArgumentOutOfRangeException(nameof(schema), $"Text column '{columnName}' not found in the input (expected String).");
        if (schema[index].Type is not TextDataViewType)
            throw new ArgumentOutOfRangeException(nameof(schema), $"Text column '{columnName}' has type {schema[index].Type}; expected String.");
        return new TextInput(columnName, index, tokenizer, contextLength);
    }

    /// <summary>Checks a schema shape (estimators' GetOutputSchema).</summary>
    public static void Check(SchemaShape schema, string columnName)
    {
        if (!schema.TryFindColumn(columnName, out var column))
            throw new ArgumentOutOfRangeException(nameof(schema), $"Text column '{columnName}' not found in the input (expected String).");
        if (column.Kind != SchemaShape.Column.VectorKind.Scalar || column.ItemType is not TextDataViewType)
            throw new ArgumentOutOfRangeException(nameof(schema), $"Text column '{columnName}' has type {column.GetTypeString()}; expected String.");
    }

    public Reader CreateReader(DataViewRow row) => new(this, row.GetGetter<ReadOnlyMemory<char>>(row.Schema[ColumnIndex]));

    internal sealed class Reader(TextInput input, ValueGetter<ReadOnlyMemory<char>> getter)
    {
        private ReadOnlyMemory<char> _text;

        /// <summary>Reads the current row's caption (tokenized later, in parallel, by <see cref="Tokenize"/>).</summary>
        public string Read(long row)
        {
            try
            {
                getter(ref _text);
                return _text.ToString();
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                throw new ClipInputException(input.ColumnName, row, ex);
            }
        }
    }

    /// <summary>Tokenizes <paramref name="count"/> captions into <paramref name="destination"/> ([count × ContextLength] ids).</summary>
    public void Tokenize(string?[] captions, int count, long[] destination)
    {
        System.Threading.Tasks.Parallel.For(0, count, i =>
        {
            var ids = _tokenizer.Encode(captions[i], ContextLength);
            var slot = destination.AsSpan(i * ContextLength, ContextLength);
            for (int j = 0; j < ids.Length; j++) slot[j] = ids[j];
        });
    }
}
