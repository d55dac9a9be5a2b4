using System;
using System.Collections.Generic;
using static TorchSharp.torch;

namespace Microsoft.ML.Clip.Tokenization;

/// <summary><see cref="ClipTextTokenizer"/> into TorchSharp tensors (the tokenizer itself, in Microsoft.ML.Clip.Preprocessing, has no TorchSharp).</summary>
public static class TokenizerExtensions
{
    /// <summary>
    /// Encodes captions into an int64 CPU tensor of shape [<c>texts.Count</c>, <paramref name="contextLength"/>], each
    /// row as <see cref="ClipTextTokenizer.Encode(string?, int)"/> gives it (what open_clip's tokenizer returns for <c>texts</c>).
    /// </summary>
    /// <param name="tokenizer">The tokenizer.</param>
    /// <param name="texts">The captions (null entries are treated as empty).</param>
    /// <param name="contextLength">The row length (the model's context length), at least <see cref="ClipTextTokenizer.MinimumContextLength"/>.</param>
    /// <returns>A new tensor owned by the caller (dispose it).</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="contextLength"/> is below <see cref="ClipTextTokenizer.MinimumContextLength"/>.</exception>
    public static Tensor EncodeBatch(this ClipTextTokenizer tokenizer, IReadOnlyList<string?> texts, int contextLength)
    {
        ArgumentNullException.ThrowIfNull(tokenizer);
        ArgumentNullException.ThrowIfNull(texts);
        var ids = tokenizer.EncodeBatchToIds(texts, contextLength);
        return tensor(ids, new long[] { texts.Count, contextLength }, dtype: ScalarType.Int64);
    }
}
