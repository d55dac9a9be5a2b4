using System;
using System.Collections.Generic;
using System.IO;
using Microsoft.Extensions.AI;
using Microsoft.ML.Clip.Imaging;
using Microsoft.ML.Clip.Tokenization;

namespace Microsoft.ML.Clip.Embeddings;

/// <summary>
/// Turns a batch of generator inputs into model inputs (source shared by the TorchSharp and ONNX Runtime generators):
/// images given as <see cref="DataContent"/> into preprocessed pixels, texts into token ids. A bad input throws
/// <see cref="ClipInputException"/> with its index in the call; nothing is dropped.
/// </summary>
internal static class EmbeddingInputs
{
    /// <summary>The name <see cref="ClipInputException.Column"/> gives image inputs.</summary>
    public const string ImageInput = "image";

    /// <summary>The name <see cref="ClipInputException.Column"/> gives text inputs.</summary>
    public const string TextInput = "text";

    /// <summary>
    /// Decodes images <c>[start, start + count)</c> (in parallel) and preprocesses them into <paramref name="pixels"/>.
    /// </summary>
    /// <exception cref="ClipInputException">The first bad image of the batch: null, not an image media type, empty,
    /// undecodable, truncated or above the pixel limit (its index in the call and the reason).</exception>
    public static void Preprocess(IReadOnlyList<DataContent> images, int start, int count, ClipImagePreprocessor preprocessor, float[] pixels) =>
        EncodedImageDecoder.DecodeAll(count, preprocessor, pixels, i => BytesOf(images[start + i]),
            (i, error) => new ClipInputException(ImageInput, start + i, error));

    /// <summary>
    /// Token ids of texts <c>[start, start + count)</c>, <paramref name="contextLength"/> per text (in parallel), into
    /// <paramref name="tokens"/>, each row as <paramref name="tokenizer"/>'s <c>Encode</c> gives it.
    /// </summary>
    /// <exception cref="ClipInputException">A text is null (its index in the call).</exception>
    public static void Tokenize(IReadOnlyList<string> texts, int start, int count, int contextLength, ClipTextTokenizer tokenizer, long[] tokens)
    {
        for (int i = 0; i < count; i++)
            if (texts[start + i] is null)
                throw new ClipInputException(TextInput, start + i, new InvalidDataException("the text is null"));
        tokenizer.EncodeRows(texts, start, count, contextLength, tokens);
    }

    /// <summary>The encoded bytes of an image input, or an exception saying why it is not one.</summary>
    private static ReadOnlyMemory<byte>? BytesOf(DataContent? content)
    {
        if (content is null)
            throw new InvalidDataException("the input is null");
        if (!content.HasTopLevelMediaType("image") && !string.Equals(content.MediaType, "application/octet-stream", StringComparison.OrdinalIgnoreCase))
            throw new InvalidDataException($"its media type is '{content.MediaType}', not an image (image/*, or application/octet-stream to decode by content)");
        if (content.Data.IsEmpty)
            throw new InvalidDataException("the image bytes are empty");
        return content.Data;
    }
}
