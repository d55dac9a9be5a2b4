namespace Microsoft.ML.Clip.Modeling;

/// <summary>Which position of the text transformer's output becomes the text embedding (open_clip <c>text_cfg.pool_type</c>).</summary>
public enum TextPooling
{
    /// <summary>The position of each row's largest token id, CLIP's end-of-text token (open_clip <c>"argmax"</c>, the default).</summary>
    EndOfText,

    /// <summary>The last position (open_clip <c>"last"</c>): SigLIP, whose tokenizer pads every text to the context length.</summary>
    Last,

    /// <summary>The first position (open_clip <c>"first"</c>).</summary>
    First,
}
