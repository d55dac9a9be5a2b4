using System;
using System.Collections.Generic;
using static TorchSharp.torch;

namespace Microsoft.ML.Clip.Tokenization;

/// <summary><see cref="ClipTokenizer"/> into TorchSharp tensors (the tokenizer itself, in Microsoft.ML.Clip.Preprocessing, has no TorchSharp).</summary>
public static class TokenizerExtensions
{
    /// <summary>
    /// Encodes captions into an int64 CPU tensor of shape [<c>texts.Count</c>, <paramref name="contextLength"/>], each
    /// row as <see cref="ClipTokenizer.Encode(string?, int)"/> gives it (what <c>open_clip.tokenize(texts)</c> returns).
    /// </summary>
    /// <param name="tokenizer">The tokenizer.</param>
    /// <param name="texts">The captions (null entries are treated as empty).</param>
    /// <param name="contextLength">The row length, at least 2.</param>
    /// <returns>A new tensor owned by the caller (dispose it).</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="contextLength"/> is less than 2.</exception>
    public static Tensor EncodeBatch(this ClipTokenizer tokenizer, IReadOnlyList<string?> texts, int contextLength = ClipTokenizer.DefaultContextLength)
    {
        ArgumentNullException.ThrowIfNull(tokenizer);
        ArgumentNullException.ThrowIfNull(texts);
        var ids = tokenizer.EncodeBatchToIds(texts, contextLength);
        return tensor(ids, new long[] { texts.Count, contextLength }, dtype: ScalarType.Int64);
    }
}
