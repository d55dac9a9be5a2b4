using System;
using System.IO;
using System.Text.Json;

namespace Microsoft.ML.Clip.Modeling;

/// <summary>
/// A model folder in open_clip's Hugging Face hub layout, as <c>open_clip.create_model_and_transforms("hf-hub:...")</c>
/// reads it: <c>open_clip_config.json</c> (<c>model_cfg</c>: the architecture; <c>preprocess_cfg</c>: the image
/// transform), <c>open_clip_model.safetensors</c> (the state dict: <c>visual.*</c> or <c>visual.trunk.*</c>, the text
/// tower flat or under <c>text.</c>, <c>logit_scale</c>, <c>logit_bias</c>) and the tokenizer's files.
/// </summary>
internal sealed class OpenClipHubFolder
{
    /// <summary>The config file's name.</summary>
    public const string ConfigFileName = "open_clip_config.json";

    /// <summary>The weights file's name.</summary>
    public const string WeightsFileName = "open_clip_model.safetensors";

    private OpenClipHubFolder(string folder, ClipConfig config, JsonElement? preprocessConfig)
    {
        Folder = folder;
        Config = config;
        PreprocessConfigJson = preprocessConfig;
    }

    /// <summary>The folder.</summary>
    public string Folder { get; }

    /// <summary>The architecture (<c>model_cfg</c>).</summary>
    public ClipConfig Config { get; }

    /// <summary><c>preprocess_cfg</c> as written, or null when the file has none.</summary>
    public JsonElement? PreprocessConfigJson { get; }

    /// <summary>Path of the weights file.</summary>
    public string WeightsPath => Path.Combine(Folder, WeightsFileName);

    /// <summary>Path of a file of the folder.</summary>
    public string PathOf(string fileName) => Path.Combine(Folder, fileName);

    /// <summary>Reads the folder's config and checks that the weights are there.</summary>
    /// <exception cref="DirectoryNotFoundException">No such folder.</exception>
    /// <exception cref="FileNotFoundException">The config or the safetensors weights are missing (the message says which, and why a pickle is not read).</exception>
    /// <exception cref="FormatException">The config is malformed; the message names the file.</exception>
    /// <exception cref="NotSupportedException">The config asks for something not implemented; the message names the file and the field.</exception>
    public static OpenClipHubFolder Open(string folder)
    {
        ArgumentException.ThrowIfNullOrEmpty(folder);
        if (!Directory.Exists(folder))
            throw new DirectoryNotFoundException($"The open_clip model folder '{folder}' does not exist.");
        string configPath = Path.Combine(folder, ConfigFileName);
        if (!File.Exists(configPath))
            throw new FileNotFoundException($"'{folder}' is not an open_clip hub folder: it has no {ConfigFileName}.", configPath);
        string weightsPath = Path.Combine(folder, WeightsFileName);
        if (!File.Exists(weightsPath))
            throw new FileNotFoundException(File.Exists(Path.Combine(folder, "open_clip_pytorch_model.bin"))
                ? $"'{folder}' has open_clip_pytorch_model.bin but no {WeightsFileName}: pickled weights are not read (they can run code); " +
                  "download the safetensors file, or convert with safetensors' torch.save_file."
                : $"'{folder}' has no {WeightsFileName}.", weightsPath);

        string json = File.ReadAllText(configPath);
        ClipConfig config;
        try
        {
            config = ClipConfig.FromOpenClipJson(json);
        }
        catch (FormatException ex)
        {
            throw new FormatException($"{configPath}: {ex.Message}", ex);
        }
        catch (NotSupportedException ex)
        {
            throw new NotSupportedException($"{configPath}: {ex.Message}", ex);
        }
        using var doc = JsonDocument.Parse(json, new JsonDocumentOptions { AllowTrailingCommas = true, CommentHandling = JsonCommentHandling.Skip });
        var root = doc.RootElement;
        JsonElement? preprocess = root.TryGetProperty("preprocess_cfg", out var p) && p.ValueKind == JsonValueKind.Object ? p.Clone() : null;
        return new OpenClipHubFolder(folder, config, preprocess);
    }
}
