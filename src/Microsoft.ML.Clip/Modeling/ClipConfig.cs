using System;

namespace Microsoft.ML.Clip.Modeling;

/// <summary>
/// Architecture of a CLIP model as data: the embedding size, both towers and the activation, mirroring the
/// open_clip model-config JSON (<see cref="FromOpenClipJson"/> / <see cref="ToOpenClipJson"/>).
/// </summary>
public sealed record ClipConfig
{
    /// <summary>open_clip's initial logit scale, <c>ln(1 / 0.07)</c> (a temperature of 0.07).</summary>
    public static readonly double DefaultInitLogitScale = Math.Log(1 / 0.07);

    /// <summary>Size of the joint image-text embedding (open_clip <c>embed_dim</c>).</summary>
    public required int EmbedDim { get; init; }

    /// <summary>The image tower.</summary>
    public required VisionConfig Vision { get; init; }

    /// <summary>The text tower.</summary>
    public required TextConfig Text { get; init; }

    /// <summary>
    /// QuickGELU (<c>x·σ(1.702x)</c>) instead of exact GELU in every MLP (open_clip <c>quick_gelu</c>).
    /// OpenAI's released weights were trained with QuickGELU, so they need the <c>-quickgelu</c> variants.
    /// </summary>
    public bool QuickGelu { get; init; }

    /// <summary>Initial value of the learnable <c>logit_scale</c> (a log temperature; open_clip <c>init_logit_scale</c>).</summary>
    public double InitLogitScale { get; init; } = DefaultInitLogitScale;

    /// <summary>
    /// Initial value of a learnable <c>logit_bias</c> (open_clip <c>init_logit_bias</c>, used by SigLIP);
    /// null means the model has no bias parameter.
    /// </summary>
    public double? InitLogitBias { get; init; }

    /// <summary>
    /// open_clip's <c>CustomTextCLIP</c> layout (<c>custom_text</c>): the text tower's tensors are named under
    /// <c>text.</c> (<c>text.token_embedding.weight</c>, <c>text.transformer.resblocks.N.*</c>, ...) instead of at the
    /// top level as in <c>CLIP</c>. EVA02-CLIP and SigLIP checkpoints use it. The arithmetic is the same.
    /// </summary>
    public bool CustomText { get; init; }

    /// <summary>Throws <see cref="ArgumentException"/> naming the first inconsistent field.</summary>
    public void Validate()
    {
        if (EmbedDim <= 0) throw new ArgumentException($"Invalid CLIP config: embed_dim must be positive, got {EmbedDim}.");
        if (Vision is null || Text is null) throw new ArgumentException("Invalid CLIP config: vision and text configs are required.");
        Vision.Validate();
        Text.Validate();
        if (QuickGelu && Text.TanhGelu)
            throw new ArgumentException("Invalid CLIP config: quick_gelu and text_cfg.act_kwargs.approximate \"tanh\" exclude each other.");
        Vision.Timm?.Validate(Vision.ImageSize, EmbedDim);
    }

    /// <summary>
    /// Reads an open_clip model-config JSON: either the bare layout of open_clip's <c>model_configs/*.json</c>
    /// (<c>embed_dim</c>, <c>vision_cfg</c>, <c>text_cfg</c>, ...) or a Hugging Face hub
    /// <c>open_clip_config.json</c> whose architecture sits under <c>model_cfg</c>. Unknown keys are ignored;
    /// known features this library does not implement (timm or Hugging Face towers, layer scale, attentional
    /// pooling, ...) are rejected with a <see cref="NotSupportedException"/> naming the key.
    /// </summary>
    /// <exception cref="FormatException">The JSON is malformed or a value has the wrong type.</exception>
    /// <exception cref="NotSupportedException">The config asks for an architecture feature not implemented here.</exception>
    public static ClipConfig FromOpenClipJson(string json) => OpenClipConfigJson.Parse(json);

    /// <summary>Writes this config as open_clip model-config JSON (the bare <c>model_configs</c> layout).</summary>
    public string ToOpenClipJson() => OpenClipConfigJson.Write(this);
}
