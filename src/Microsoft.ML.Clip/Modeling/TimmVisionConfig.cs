using System;

namespace Microsoft.ML.Clip.Modeling;

/// <summary>
/// An image tower open_clip takes from timm (<c>vision_cfg.timm_model_name</c>): the model name as configs write it,
/// the architecture it stands for (<see cref="TimmModels"/> maps the released names) and how its output reaches the
/// joint embedding. Its tensors are named <c>visual.trunk.*</c> as open_clip's <c>TimmModel</c> names them.
/// </summary>
public sealed record TimmVisionConfig
{
    /// <summary>The timm model name (open_clip <c>timm_model_name</c>), e.g. <c>vit_base_patch16_siglip_224</c>.</summary>
    public required string ModelName { get; init; }

    /// <summary>The architecture the name stands for.</summary>
    public required TimmTowerArchitecture Architecture { get; init; }

    /// <summary>
    /// True (open_clip <c>timm_proj</c> null): the trunk's classifier head, a Linear layer with bias from the trunk's
    /// width to <c>embed_dim</c> (<c>visual.trunk.head</c>), is the projection, as in EVA02-CLIP. False (<c>timm_proj</c>
    /// "none"): the pooled trunk output is the embedding, so <c>embed_dim</c> must equal the trunk's width, as in SigLIP.
    /// </summary>
    public bool HeadProjection { get; init; } = true;

    /// <summary>Throws <see cref="ArgumentException"/> naming the first inconsistent field.</summary>
    /// <param name="imageSize">The vision config's image size, which must be the architecture's.</param>
    /// <param name="embedDim">The model's embedding size.</param>
    public void Validate(int imageSize, int embedDim)
    {
        if (string.IsNullOrWhiteSpace(ModelName))
            throw new ArgumentException("Invalid vision config: timm_model_name must not be empty.");
        if (Architecture is null)
            throw new ArgumentException($"Invalid vision config: timm model '{ModelName}' has no architecture.");
        Architecture.Validate();
        if (imageSize != Architecture.ImageSize)
            throw new ArgumentException($"Invalid vision config: image_size is {imageSize} but timm model '{ModelName}' takes {Architecture.ImageSize} px images.");
        if (!HeadProjection && embedDim != Architecture.Width)
            throw new ArgumentException($"Invalid CLIP config: timm_proj \"none\" passes the width of timm model '{ModelName}' ({Architecture.Width}) " +
                $"through as the embedding, so embed_dim must be {Architecture.Width}, got {embedDim}.");
    }
}
