using System;
using System.IO;
using Microsoft.ML;
using Microsoft.ML.Clip.Imaging;
using Microsoft.ML.Data;
using Microsoft.ML.Transforms.Image;

namespace Microsoft.ML.Clip.Transforms.Clip;

/// <summary>
/// Reads an image column into preprocessed float planes. Three column types are accepted: decoded images
/// (<see cref="MLImage"/>, from <c>LoadImages</c>), encoded bytes (variable-length <see cref="byte"/>
/// vectors, from <c>LoadRawImageBytes</c> or a Parquet/WebDataset reader), and pixels the caller already
/// preprocessed (a <see cref="float"/> vector of 3 × S × S values, channel planes, normalized). Encoded bytes are
/// copied on the reading thread and decoded in parallel later; an <see cref="MLImage"/> is already decoded by its
/// getter (and disposed by the next call), so it is preprocessed at once; preprocessed pixels are copied.
/// </summary>
internal sealed class ImageInput
{
    private readonly ClipImagePreprocessor _preprocessor;

    private ImageInput(string columnName, int columnIndex, bool encoded, ClipImagePreprocessor preprocessor)
    {
        ColumnName = columnName;
        ColumnIndex = columnIndex;
        IsEncoded = encoded;
        _preprocessor = preprocessor;
    }

    public string ColumnName { get; }

    public int ColumnIndex { get; }

    /// <summary>True for encoded-bytes columns, false for <see cref="MLImage"/> columns.</summary>
    public bool IsEncoded { get; }

    /// <summary>Floats per preprocessed image.</summary>
    public int Length => _preprocessor.OutputLength;

    public const string ExpectedType = "Image (MLImage, from LoadImages), Vector<Byte> (encoded image bytes, from LoadRawImageBytes) " +
        "or Vector<Single> (preprocessed pixels, 3 × size × size)";

    /// <summary>Finds and checks the column; the error names it and the expected types.</summary>
    /// <remarks>The default name <c>Image</c> reads the loaders' <c>ImageBytes</c> when only that is present (<see cref="DefaultColumns"/>).</remarks>
    public static ImageInput Bind(DataViewSchema schema, string columnName, ClipImagePreprocessor preprocessor)
    {
        columnName = DefaultColumns.Resolve(columnName, name => schema.GetColumnOrNull(name) is not null);
        if (!schema.TryGetColumnIndex(columnName, out int index))
            throw new ArgumentOutOfRangeException(nameof(schema), DefaultColumns.NotFound("Image", columnName, ExpectedType));
        var type = schema[index].Type;
        bool encoded = type is VectorDataViewType { ItemType: var item } && item == NumberDataViewType.Byte;
        bool pixels = type is VectorDataViewType { ItemType: var floats } && floats == NumberDataViewType.Single;
        if (!encoded && !pixels && type is not ImageDataViewType)
            throw new ArgumentOutOfRangeException(nameof(schema), $"Image column '{columnName}' has type {type}; expected {ExpectedType}.");
        if (pixels && type is VectorDataViewType { Size: > 0 } sized && sized.Size != preprocessor.OutputLength)
            throw new ArgumentOutOfRangeException(nameof(schema), $"Image column '{columnName}' holds {sized.Size} floats; preprocessed pixels " +
                $"for this model are 3 × {preprocessor.Options.ImageSize} × {preprocessor.Options.ImageSize} = {preprocessor.OutputLength}.");
        return new ImageInput(columnName, index, encoded, preprocessor);
    }

    /// <summary>Checks a schema shape (estimators' GetOutputSchema).</summary>
    public static void Check(SchemaShape schema, string columnName)
    {
        columnName = DefaultColumns.Resolve(columnName, name => schema.TryFindColumn(name, out _));
        if (!schema.TryFindColumn(columnName, out var column))
            throw new ArgumentOutOfRangeException(nameof(schema), DefaultColumns.NotFound("Image", columnName, ExpectedType));
        bool encoded = column.Kind == SchemaShape.Column.VectorKind.VariableVector && column.ItemType == NumberDataViewType.Byte;
        bool pixels = column.Kind != SchemaShape.Column.VectorKind.Scalar && column.ItemType == NumberDataViewType.Single;
        if (!encoded && !pixels && column.ItemType is not ImageDataViewType)
            throw new ArgumentOutOfRangeException(nameof(schema), $"Image column '{columnName}' has type {column.GetTypeString()}; expected {ExpectedType}.");
    }

    /// <summary>Creates the per-cursor reader.</summary>
    public Reader CreateReader(DataViewRow row) => new(this, row);

    internal sealed class Reader
    {
        private readonly ImageInput _input;
        private readonly ValueGetter<MLImage>? _image;
        private readonly ValueGetter<VBuffer<byte>>? _bytes;
        private readonly ValueGetter<VBuffer<float>>? _pixels;
        private VBuffer<byte> _buffer;
        private VBuffer<float> _pixelBuffer;
        private MLImage? _current;

        public Reader(ImageInput input, DataViewRow row)
        {
            _input = input;
            var column = row.Schema[input.ColumnIndex];
            if (input.IsEncoded) _bytes = row.GetGetter<VBuffer<byte>>(column);
            else if (column.Type is VectorDataViewType) _pixels = row.GetGetter<VBuffer<float>>(column);
            else _image = row.GetGetter<MLImage>(column);
        }

        /// <summary>
        /// Reads the current row: preprocesses a decoded image into <paramref name="destination"/> now, or
        /// returns a copy of the encoded bytes for <see cref="Decode"/>.
        /// </summary>
        public byte[]? Read(Span<float> destination, long row)
        {
            try
            {
                if (_bytes is not null)
                {
                    _bytes(ref _buffer);
                    if (_buffer.Length == 0)
                        throw new InvalidDataException("the image bytes are empty");
                    var copy = new byte[_buffer.Length];
                    _buffer.CopyTo(copy);
                    return copy;
                }
                if (_pixels is not null)
                {
                    _pixels(ref _pixelBuffer);
                    if (_pixelBuffer.Length != destination.Length)
                        throw new InvalidDataException($"{_pixelBuffer.Length} preprocessed pixel values; the model takes {destination.Length} (3 × size × size)");
                    _pixelBuffer.CopyTo(destination);
                    return null;
                }
                // ML.NET's image getters dispose the value passed in and decode a new one, so the image is ours
                // until the next call; it is disposed right after use instead of waiting for the finalizer.
                _image!(ref _current!);
                if (_current is null)
                    throw new InvalidDataException("the image is missing (null)");
                _input._preprocessor.PreprocessInto(_current, destination);
                return null;
            }
            catch (Exception ex) when (ex is not OperationCanceledException && ex is not ClipInputException)
            {
                throw new ClipInputException(_input.ColumnName, row, ex);
            }
        }
    }

    /// <summary>Decodes and preprocesses encoded images in parallel: <c>images[i]</c> (when not null) fills slot i.</summary>
    /// <param name="images">Encoded images by slot (null: already preprocessed, or marked bad).</param>
    /// <param name="count">Slots in use.</param>
    /// <param name="destination">The batch's pixel planes.</param>
    /// <param name="rows">Input row of each slot, for error messages.</param>
    /// <param name="onBadImage">When set, a bad image is reported here (with its slot) instead of failing the batch.</param>
    /// <exception cref="ClipInputException">Without <paramref name="onBadImage"/>: the first bad slot of the batch (itself, never an AggregateException).</exception>
    public void Decode(byte[]?[] images, int count, float[] destination, long[] rows, Action<int, ClipInputException>? onBadImage = null) =>
        EncodedImageDecoder.DecodeAll(count, _preprocessor, destination,
            i =>
            {
                var bytes = images[i];
                images[i] = null; // the batch's buffers are reused; the bytes are not needed after this image
                return bytes is null ? (ReadOnlyMemory<byte>?)null : bytes;
            },
            (i, ex) => new ClipInputException(ColumnName, rows[i], ex), onBadImage);
}
