namespace Microsoft.ML.Clip.Imaging;

/// <summary>The resampling filter of the resize (open_clip's <c>preprocess_cfg.interpolation</c>), PIL's antialiased version of each.</summary>
public enum ClipInterpolation
{
    /// <summary>PIL's <c>BICUBIC</c> (a = −0.5, support 2): OpenAI CLIP, SigLIP, EVA-CLIP and most open_clip models.</summary>
    Bicubic = 0,

    /// <summary>PIL's <c>BILINEAR</c> (triangle, support 1): open_clip's CLIPA and MobileCLIP models.</summary>
    Bilinear = 1,
}
