namespace Microsoft.ML.Clip.Tokenization;

/// <summary>
/// open_clip's caption cleaning functions (<c>tokenizer_kwargs.clean</c> of a model config), applied before a
/// tokenizer splits the text. Each starts with Python's <c>html.unescape</c>, twice (ftfy's repairs are left out; see
/// <see cref="ClipTextCleaner"/>).
/// </summary>
public enum ClipTextCleaning
{
    /// <summary>
    /// open_clip's <c>"lower"</c> (its default tokenizer's): whitespace runs become one space, the ends are stripped,
    /// then Python's <c>str.lower</c>.
    /// </summary>
    Lower = 0,

    /// <summary>open_clip's <c>"whitespace"</c> (the default of its Hugging Face tokenizer wrapper): as <see cref="Lower"/> without lowercasing.</summary>
    Whitespace = 1,

    /// <summary>
    /// open_clip's <c>"canonicalize"</c> (SigLIP's, from big_vision): '_' becomes ' ', ASCII punctuation
    /// (Python's <c>string.punctuation</c>) is removed, then as <see cref="Lower"/>.
    /// </summary>
    Canonicalize = 2,
}
