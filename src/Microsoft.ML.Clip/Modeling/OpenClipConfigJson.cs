using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Text;
using System.Text.Json;

namespace Microsoft.ML.Clip.Modeling;

/// <summary>Reads and writes open_clip model-config JSON (see <see cref="ClipConfig.FromOpenClipJson"/>).</summary>
internal static class OpenClipConfigJson
{
    // Keys whose only supported value is open_clip's default. A config that sets them to anything else asks for
    // an architecture this library does not build; accepting it silently would load weights into the wrong model
    // (or fail later with a confusing shape error), so it is rejected up front with the key's name.
    private static readonly (string Key, Func<JsonElement, bool> IsDefault, string Expected)[] VisionDefaultsOnly =
    [
        ("ls_init_value", IsNull, "null (LayerScale is not supported)"),
        ("attentional_pool", IsFalse, "false"),
        ("no_ln_pre", IsFalse, "false"),
        ("pos_embed_type", e => IsNull(e) || IsString(e, "learnable"), "\"learnable\""),
        ("final_ln_after_pool", IsFalse, "false"),
        ("pool_type", e => IsNull(e) || IsString(e, "tok"), "\"tok\""),
        ("input_patchnorm", IsFalse, "false"),
        ("global_average_pool", IsFalse, "false"),
        ("act_kwargs", IsNullOrEmptyObject, "null"),
        ("norm_kwargs", IsNullOrEmptyObject, "null"),
        ("block_type", e => IsNull(e) || IsString(e, "default"), "null"),
        ("qk_norm", IsFalse, "false"),
        ("scaled_cosine_attn", IsFalse, "false"),
        ("scale_heads", IsFalse, "false"),
        ("scale_attn_inner", IsFalse, "false"),
        ("scale_attn", IsFalse, "false"),
        ("scale_fc", IsFalse, "false"),
    ];

    private static readonly (string Key, Func<JsonElement, bool> IsDefault, string Expected)[] TextDefaultsOnly =
    [
        ("hf_model_name", IsNullOrEmptyString, "null (Hugging Face text towers are not supported)"),
        ("ls_init_value", IsNull, "null (LayerScale is not supported)"),
        ("embed_cls", IsFalse, "false"),
        ("final_ln_after_pool", IsFalse, "false"),
        ("proj_type", e => IsNull(e) || IsString(e, "linear"), "\"linear\""),
        ("ln_post_emb", IsFalse, "false"),
        ("block_type", e => IsNull(e) || IsString(e, "default"), "null"),
        ("qk_norm", IsFalse, "false"),
        ("scaled_cosine_attn", IsFalse, "false"),
        ("scale_heads", IsFalse, "false"),
        ("scale_attn_inner", IsFalse, "false"),
        ("scale_attn", IsFalse, "false"),
        ("scale_fc", IsFalse, "false"),
    ];

    // What a timm image tower (timm_model_name) may set besides its name, pool and projection.
    private static readonly (string Key, Func<JsonElement, bool> IsDefault, string Expected)[] TimmDefaultsOnly =
    [
        ("timm_model_pretrained", IsFalse, "false (the weights come from the checkpoint)"),
        ("timm_drop", e => IsNull(e) || IsZero(e), "0 (head dropout is not supported)"),
        ("timm_drop_path", e => IsNull(e) || IsZero(e), "null (stochastic depth is not supported)"),
    ];

    private static readonly (string Key, Func<JsonElement, bool> IsDefault, string Expected)[] TopDefaultsOnly =
    [
        ("multimodal_cfg", IsNull, "absent (CoCa models are not supported)"),
    ];

    public static ClipConfig Parse(string json)
    {
        ArgumentNullException.ThrowIfNull(json);
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(json, new JsonDocumentOptions { AllowTrailingCommas = true, CommentHandling = JsonCommentHandling.Skip });
        }
        catch (JsonException ex)
        {
            throw new FormatException($"The open_clip model config is not valid JSON: {ex.Message}", ex);
        }
        using (doc)
        {
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
                throw new FormatException("The open_clip model config must be a JSON object.");
            // Hugging Face hub files (open_clip_config.json) wrap the architecture in "model_cfg".
            if (root.TryGetProperty("model_cfg", out var modelCfg))
            {
                if (modelCfg.ValueKind != JsonValueKind.Object)
                    throw new FormatException("'model_cfg' must be a JSON object.");
                root = modelCfg;
            }

            CheckDefaults(root, TopDefaultsOnly, "");
            var vision = Object(root, "vision_cfg", "");
            var text = Object(root, "text_cfg", "");
            CheckDefaults(vision, VisionDefaultsOnly, "vision_cfg.");
            CheckDefaults(text, TextDefaultsOnly, "text_cfg.");

            var config = new ClipConfig
            {
                EmbedDim = Int(root, "embed_dim", "", null),
                QuickGelu = Bool(root, "quick_gelu", "", false),
                CustomText = Bool(root, "custom_text", "", false),
                InitLogitScale = Number(root, "init_logit_scale", "", ClipConfig.DefaultInitLogitScale),
                InitLogitBias = NullableNumber(root, "init_logit_bias", ""),
                Vision = ParseVision(vision),
                Text = ParseText(text),
            };
            try
            {
                config.Validate();
            }
            catch (ArgumentException ex)
            {
                throw new FormatException(ex.Message, ex);
            }
            return config;
        }
    }

    private static VisionConfig ParseVision(JsonElement v)
    {
        const string p = "vision_cfg.";
        var defaults = new VisionConfig();
        if (v.TryGetProperty("timm_model_name", out var timmName) && !IsNullOrEmptyString(timmName))
        {
            var timm = ParseTimm(v, timmName);
            return new VisionConfig
            {
                ImageSize = v.TryGetProperty("image_size", out var size) ? SquareSize(size, p + "image_size") : timm.Architecture.ImageSize,
                Timm = timm,
                PatchDropout = Number(v, "patch_dropout", p, 0),
            };
        }
        int[]? resnet = null;
        int layers = defaults.Layers;
        if (v.TryGetProperty("layers", out var layersElement) && layersElement.ValueKind == JsonValueKind.Array)
        {
            resnet = layersElement.EnumerateArray().Select(e => e.ValueKind == JsonValueKind.Number && e.TryGetInt32(out int n)
                ? n : throw new FormatException($"'{p}layers' must be an integer or an array of integers.")).ToArray();
            if (resnet.Length != 4)
                throw new FormatException($"'{p}layers' as an array describes a ModifiedResNet and needs 4 stage depths, got {resnet.Length}.");
        }
        else
        {
            layers = Int(v, "layers", p, defaults.Layers);
        }

        int patch = defaults.PatchSize;
        bool hasPatch = v.TryGetProperty("patch_size", out var patchElement);
        if (hasPatch && patchElement.ValueKind != JsonValueKind.Null)
            patch = SquareSize(patchElement, p + "patch_size");
        else if (hasPatch && resnet is null)
            throw new FormatException($"'{p}patch_size' is null but a Vision Transformer needs a patch size.");

        int image = defaults.ImageSize;
        if (v.TryGetProperty("image_size", out var imageElement))
            image = SquareSize(imageElement, p + "image_size");

        return new VisionConfig
        {
            ImageSize = image,
            Layers = resnet is null ? layers : defaults.Layers,
            ResNetLayers = resnet,
            Width = Int(v, "width", p, defaults.Width),
            HeadWidth = Int(v, "head_width", p, defaults.HeadWidth),
            MlpRatio = Number(v, "mlp_ratio", p, defaults.MlpRatio),
            PatchSize = patch,
            PatchDropout = Number(v, "patch_dropout", p, 0),
        };
    }

    // A timm trunk: the name must be a known one (TimmModels); the pool must be the one its family is built with; the
    // projection is the trunk's head (timm_proj null) or none ("none"). open_clip's default timm_proj, "linear", adds a
    // projection layer after the trunk, which is not built here.
    private static TimmVisionConfig ParseTimm(JsonElement v, JsonElement name)
    {
        const string p = "vision_cfg.";
        if (name.ValueKind != JsonValueKind.String)
            throw new FormatException($"'{p}timm_model_name' must be a string, got {name.GetRawText()}.");
        string modelName = name.GetString()!;
        if (!TimmModels.TryGet(modelName, out var architecture))
            throw new NotSupportedException($"The open_clip model config uses features this library does not implement: '{p}timm_model_name' = " +
                $"\"{modelName}\" (supported: {string.Join(", ", TimmModels.Names)}).");
        CheckDefaults(v, TimmDefaultsOnly, p);
        string pool = v.TryGetProperty("timm_pool", out var poolElement) && poolElement.ValueKind == JsonValueKind.String ? poolElement.GetString()! : "avg";
        if (pool != architecture.Pool)
            throw new NotSupportedException($"The open_clip model config uses features this library does not implement: '{p}timm_pool' = \"{pool}\" " +
                $"(supported for {modelName}: \"{architecture.Pool}\").");
        bool hasProjection = v.TryGetProperty("timm_proj", out var projection);
        if (!hasProjection || !(projection.ValueKind == JsonValueKind.Null || IsString(projection, "none")))
            throw new NotSupportedException("The open_clip model config uses features this library does not implement: " +
                $"'{p}timm_proj' = {(hasProjection ? projection.GetRawText() : "\"linear\" (open_clip's default)")} " +
                "(supported: null, the trunk's head as projection, or \"none\").");
        return new TimmVisionConfig { ModelName = modelName, Architecture = architecture, HeadProjection = projection.ValueKind == JsonValueKind.Null };
    }

    private static TextConfig ParseText(JsonElement t)
    {
        const string p = "text_cfg.";
        var d = new TextConfig();
        return new TextConfig
        {
            ContextLength = Int(t, "context_length", p, d.ContextLength),
            VocabSize = Int(t, "vocab_size", p, d.VocabSize),
            Width = Int(t, "width", p, d.Width),
            Heads = Int(t, "heads", p, d.Heads),
            Layers = Int(t, "layers", p, d.Layers),
            MlpRatio = Number(t, "mlp_ratio", p, d.MlpRatio),
            CausalMask = !Bool(t, "no_causal_mask", p, false),
            Pooling = TextPoolingOf(t),
            ProjectionBias = Bool(t, "proj_bias", p, false),
            LayerNormEps = SingleKey(t, "norm_kwargs", "eps", e => e.ValueKind == JsonValueKind.Number && e.TryGetDouble(out double x) && x > 0,
                "a positive number", e => e.GetDouble()) ?? d.LayerNormEps,
            TanhGelu = SingleKey(t, "act_kwargs", "approximate", e => IsString(e, "tanh") || IsString(e, "none"),
                "\"tanh\" or \"none\"", e => e.GetString() == "tanh") ?? false,
        };
    }

    private static TextPooling TextPoolingOf(JsonElement t)
    {
        if (!t.TryGetProperty("pool_type", out var value) || value.ValueKind == JsonValueKind.Null) return TextPooling.EndOfText;
        return value.ValueKind == JsonValueKind.String ? value.GetString() switch
        {
            "argmax" => TextPooling.EndOfText,
            "last" => TextPooling.Last,
            "first" => TextPooling.First,
            _ => throw new NotSupportedException("The open_clip model config uses features this library does not implement: " +
                $"'text_cfg.pool_type' = {value.GetRawText()} (supported: \"argmax\", \"last\", \"first\")."),
        } : throw new FormatException($"'text_cfg.pool_type' must be a string, got {value.GetRawText()}.");
    }

    // An open_clip "*_kwargs" object of which one key is supported: its value read, every other key refused by name.
    private static T? SingleKey<T>(JsonElement t, string objectKey, string key, Func<JsonElement, bool> valid, string expected, Func<JsonElement, T> read)
        where T : struct
    {
        if (!t.TryGetProperty(objectKey, out var obj) || obj.ValueKind == JsonValueKind.Null) return null;
        if (obj.ValueKind != JsonValueKind.Object)
            throw new FormatException($"'text_cfg.{objectKey}' must be a JSON object, got {obj.GetRawText()}.");
        T? result = null;
        foreach (var property in obj.EnumerateObject())
        {
            if (property.Name != key)
                throw new NotSupportedException("The open_clip model config uses features this library does not implement: " +
                    $"'text_cfg.{objectKey}.{property.Name}' (supported: {key} only).");
            if (!valid(property.Value))
                throw new NotSupportedException("The open_clip model config uses features this library does not implement: " +
                    $"'text_cfg.{objectKey}.{key}' = {property.Value.GetRawText()} (supported: {expected}).");
            result = read(property.Value);
        }
        return result;
    }

    public static string Write(ClipConfig config)
    {
        using var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true }))
        {
            w.WriteStartObject();
            w.WriteNumber("embed_dim", config.EmbedDim);
            w.WriteBoolean("quick_gelu", config.QuickGelu);
            if (config.CustomText) w.WriteBoolean("custom_text", true);
            if (config.InitLogitScale != ClipConfig.DefaultInitLogitScale)
                w.WriteNumber("init_logit_scale", config.InitLogitScale);
            if (config.InitLogitBias is double bias)
                w.WriteNumber("init_logit_bias", bias);

            var v = config.Vision;
            w.WriteStartObject("vision_cfg");
            w.WriteNumber("image_size", v.ImageSize);
            if (v.Timm is { } timm)
            {
                w.WriteString("timm_model_name", timm.ModelName);
                w.WriteBoolean("timm_model_pretrained", false);
                w.WriteString("timm_pool", timm.Architecture.Pool);
                if (timm.HeadProjection) w.WriteNull("timm_proj");
                else w.WriteString("timm_proj", "none");
                if (v.PatchDropout > 0) w.WriteNumber("patch_dropout", v.PatchDropout);
            }
            else if (v.ResNetLayers is { } stages)
            {
                w.WriteStartArray("layers");
                foreach (int n in stages) w.WriteNumberValue(n);
                w.WriteEndArray();
                w.WriteNumber("width", v.Width);
                w.WriteNumber("head_width", v.HeadWidth);
                w.WriteNull("patch_size");
            }
            else
            {
                w.WriteNumber("layers", v.Layers);
                w.WriteNumber("width", v.Width);
                w.WriteNumber("head_width", v.HeadWidth);
                w.WriteNumber("mlp_ratio", v.MlpRatio);
                w.WriteNumber("patch_size", v.PatchSize);
                if (v.PatchDropout > 0) w.WriteNumber("patch_dropout", v.PatchDropout);
            }
            w.WriteEndObject();

            var t = config.Text;
            w.WriteStartObject("text_cfg");
            w.WriteNumber("context_length", t.ContextLength);
            w.WriteNumber("vocab_size", t.VocabSize);
            w.WriteNumber("width", t.Width);
            w.WriteNumber("heads", t.Heads);
            w.WriteNumber("layers", t.Layers);
            w.WriteNumber("mlp_ratio", t.MlpRatio);
            if (!t.CausalMask) w.WriteBoolean("no_causal_mask", true);
            if (t.Pooling != TextPooling.EndOfText) w.WriteString("pool_type", t.Pooling == TextPooling.Last ? "last" : "first");
            if (t.ProjectionBias) w.WriteBoolean("proj_bias", true);
            if (t.LayerNormEps != new TextConfig().LayerNormEps)
            {
                w.WriteStartObject("norm_kwargs");
                w.WriteNumber("eps", t.LayerNormEps);
                w.WriteEndObject();
            }
            if (t.TanhGelu)
            {
                w.WriteStartObject("act_kwargs");
                w.WriteString("approximate", "tanh");
                w.WriteEndObject();
            }
            w.WriteEndObject();
            w.WriteEndObject();
        }
        return Encoding.UTF8.GetString(buffer.ToArray());
    }

    private static void CheckDefaults(JsonElement obj, (string Key, Func<JsonElement, bool> IsDefault, string Expected)[] rules, string prefix)
    {
        var problems = new List<string>();
        foreach (var (key, isDefault, expected) in rules)
            if (obj.TryGetProperty(key, out var value) && !isDefault(value))
                problems.Add($"'{prefix}{key}' = {value.GetRawText()} (supported: {expected})");
        if (problems.Count > 0)
            throw new NotSupportedException("The open_clip model config uses features this library does not implement: "
                + string.Join("; ", problems) + ".");
    }

    private static JsonElement Object(JsonElement obj, string key, string prefix)
    {
        if (!obj.TryGetProperty(key, out var value))
            throw new FormatException($"The open_clip model config has no '{prefix}{key}'.");
        if (value.ValueKind != JsonValueKind.Object)
            throw new FormatException($"'{prefix}{key}' must be a JSON object.");
        return value;
    }

    private static int Int(JsonElement obj, string key, string prefix, int? fallback)
    {
        if (!obj.TryGetProperty(key, out var value) || value.ValueKind == JsonValueKind.Null)
            return fallback ?? throw new FormatException($"The open_clip model config has no '{prefix}{key}'.");
        if (value.ValueKind == JsonValueKind.Number && value.TryGetInt32(out int n)) return n;
        // Python writes whole floats such as 4.0 for some integer fields.
        if (value.ValueKind == JsonValueKind.Number && value.TryGetDouble(out double d) && d == Math.Floor(d) && Math.Abs(d) < int.MaxValue)
            return (int)d;
        throw new FormatException($"'{prefix}{key}' must be an integer, got {value.GetRawText()}.");
    }

    private static double Number(JsonElement obj, string key, string prefix, double fallback) =>
        NullableNumber(obj, key, prefix) ?? fallback;

    private static double? NullableNumber(JsonElement obj, string key, string prefix)
    {
        if (!obj.TryGetProperty(key, out var value) || value.ValueKind == JsonValueKind.Null) return null;
        if (value.ValueKind == JsonValueKind.Number && value.TryGetDouble(out double d) && double.IsFinite(d)) return d;
        throw new FormatException($"'{prefix}{key}' must be a number, got {value.GetRawText()}.");
    }

    private static bool Bool(JsonElement obj, string key, string prefix, bool fallback)
    {
        if (!obj.TryGetProperty(key, out var value) || value.ValueKind == JsonValueKind.Null) return fallback;
        return value.ValueKind switch
        {
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            _ => throw new FormatException($"'{prefix}{key}' must be true or false, got {value.GetRawText()}."),
        };
    }

    // open_clip accepts an int or an (h, w) pair; only square sizes are supported here.
    private static int SquareSize(JsonElement value, string name)
    {
        if (value.ValueKind == JsonValueKind.Number && value.TryGetInt32(out int n)) return n;
        if (value.ValueKind == JsonValueKind.Array && value.GetArrayLength() == 2
            && value[0].TryGetInt32(out int h) && value[1].TryGetInt32(out int w))
        {
            if (h != w) throw new NotSupportedException($"'{name}' = [{h}, {w}]: only square sizes are supported.");
            return h;
        }
        throw new FormatException($"'{name}' must be an integer or a pair of integers, got {value.GetRawText()}.");
    }

    private static bool IsNull(JsonElement e) => e.ValueKind == JsonValueKind.Null;
    private static bool IsZero(JsonElement e) => e.ValueKind == JsonValueKind.Number && e.TryGetDouble(out double x) && x == 0;
    private static bool IsFalse(JsonElement e) => e.ValueKind is JsonValueKind.False or JsonValueKind.Null;
    private static bool IsString(JsonElement e, string s) => e.ValueKind == JsonValueKind.String && e.GetString() == s;
    private static bool IsNullOrEmptyString(JsonElement e) => IsNull(e) || IsString(e, "");
    private static bool IsNullOrEmptyObject(JsonElement e) =>
        IsNull(e) || (e.ValueKind == JsonValueKind.Object && !e.EnumerateObject().Any());
}
