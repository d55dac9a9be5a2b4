using System;
using System.IO;
using Microsoft.ML.Clip.Modeling;

namespace Microsoft.ML.Clip.Imaging;

/// <summary>
/// The image preprocessing of an open_clip hub folder: its <c>preprocess_cfg</c> (open_clip's <c>PreprocessCfg</c>) read by
/// <see cref="ImagePreprocessingOptions.FromOpenClipPreprocessConfig(string, int?)"/> at the model's own image size, as open_clip's
/// <c>create_model</c> does; without one, CLIP's defaults at that size.
/// </summary>
internal static class HubPreprocessing
{
    /// <exception cref="InvalidDataException">A field is malformed or asks for something not implemented; the message
    /// names the file and the field.</exception>
    public static ImagePreprocessingOptions Read(OpenClipHubFolder hub)
    {
        ArgumentNullException.ThrowIfNull(hub);
        int size = hub.Config.Vision.ImageSize;
        if (hub.PreprocessConfigJson is not { } cfg) return new ImagePreprocessingOptions(size);
        try
        {
            return ImagePreprocessingOptions.FromOpenClipPreprocessConfig(cfg, size);
        }
        catch (InvalidDataException ex)
        {
            throw new InvalidDataException($"{hub.PathOf(OpenClipHubFolder.ConfigFileName)}: {ex.Message}", ex);
        }
    }
}
