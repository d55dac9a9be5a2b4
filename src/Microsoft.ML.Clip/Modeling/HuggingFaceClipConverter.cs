using System;
using System.Collections.Generic;
using System.Linq;
using System.Text.Json;
using System.Text.RegularExpressions;
using static TorchSharp.torch;

namespace Microsoft.ML.Clip.Modeling;

/// <summary>
/// Converts Hugging Face transformers' <c>CLIPModel</c> checkpoints to open_clip's layout: separate
/// <c>q_proj/k_proj/v_proj</c> become the fused <c>in_proj_weight/in_proj_bias</c> (concatenated q, k, v),
/// <c>visual_projection.weight</c> and <c>text_projection.weight</c> are transposed into <c>visual.proj</c> and
/// <c>text_projection</c>, everything else is renamed. <c>position_ids</c> buffers are dropped.
/// </summary>
internal static partial class HuggingFaceClipConverter
{
    private static readonly (string Hf, string OpenClip)[] LayerRenames =
    [
        ("self_attn.out_proj.", "attn.out_proj."),
        ("layer_norm1.", "ln_1."),
        ("layer_norm2.", "ln_2."),
        ("mlp.fc1.", "mlp.c_fc."),
        ("mlp.fc2.", "mlp.c_proj."),
    ];

    private static readonly Dictionary<string, string> FlatRenames = new(StringComparer.Ordinal)
    {
        ["vision_model.embeddings.class_embedding"] = "visual.class_embedding",
        ["vision_model.embeddings.patch_embedding.weight"] = "visual.conv1.weight",
        ["vision_model.embeddings.position_embedding.weight"] = "visual.positional_embedding",
        // "pre_layrnorm" is Hugging Face's own spelling.
        ["vision_model.pre_layrnorm.weight"] = "visual.ln_pre.weight",
        ["vision_model.pre_layrnorm.bias"] = "visual.ln_pre.bias",
        ["vision_model.post_layernorm.weight"] = "visual.ln_post.weight",
        ["vision_model.post_layernorm.bias"] = "visual.ln_post.bias",
        ["text_model.embeddings.token_embedding.weight"] = "token_embedding.weight",
        ["text_model.embeddings.position_embedding.weight"] = "positional_embedding",
        ["text_model.final_layer_norm.weight"] = "ln_final.weight",
        ["text_model.final_layer_norm.bias"] = "ln_final.bias",
        ["logit_scale"] = "logit_scale",
    };

    private static readonly Dictionary<string, string> TransposedRenames = new(StringComparer.Ordinal)
    {
        ["visual_projection.weight"] = "visual.proj",
        ["text_projection.weight"] = "text_projection",
    };

    [GeneratedRegex(@"^(vision_model|text_model)\.encoder\.layers\.(\d+)\.(.+)$")]
    private static partial Regex LayerKey();

    /// <summary>True when the names look like a Hugging Face <c>CLIPModel</c> state dict.</summary>
    public static bool IsHuggingFaceLayout(IEnumerable<string> names) =>
        names.Any(n => n.StartsWith("vision_model.", StringComparison.Ordinal)
            || n.StartsWith("text_model.", StringComparison.Ordinal)
            || n == "visual_projection.weight");

    /// <summary>
    /// Returns the state dict in open_clip's layout. Unrecognised names are passed through unchanged (so a strict
    /// load reports them); incomplete q/k/v triples are passed through too. New tensors are created for the
    /// fused and transposed entries; the others are the source tensors themselves. The caller owns all of them.
    /// </summary>
    public static Dictionary<string, Tensor> ToOpenClip(IReadOnlyDictionary<string, Tensor> hf)
    {
        ArgumentNullException.ThrowIfNull(hf);
        var result = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        // (tower, layer, "weight"/"bias") -> q, k, v
        var qkv = new Dictionary<(string, int, string), Tensor?[]>();

        foreach (var (name, tensor) in hf)
        {
            if (name.EndsWith("embeddings.position_ids", StringComparison.Ordinal)) continue;
            if (FlatRenames.TryGetValue(name, out var flat)) { Add(result, flat, tensor, name); continue; }
            if (TransposedRenames.TryGetValue(name, out var transposed))
            {
                Add(result, transposed, tensor.dim() == 2 ? tensor.t().contiguous() : tensor, name);
                continue;
            }
            var m = LayerKey().Match(name);
            if (!m.Success) { Add(result, name, tensor, name); continue; }

            string tower = m.Groups[1].Value, rest = m.Groups[3].Value;
            int layer = int.Parse(m.Groups[2].Value, System.Globalization.CultureInfo.InvariantCulture);
            string prefix = (tower == "vision_model" ? "visual.transformer" : "transformer") + $".resblocks.{layer}.";
            int slot = rest switch
            {
                _ when rest.StartsWith("self_attn.q_proj.", StringComparison.Ordinal) => 0,
                _ when rest.StartsWith("self_attn.k_proj.", StringComparison.Ordinal) => 1,
                _ when rest.StartsWith("self_attn.v_proj.", StringComparison.Ordinal) => 2,
                _ => -1,
            };
            if (slot >= 0)
            {
                string kind = rest["self_attn.q_proj.".Length..];
                if (kind is "weight" or "bias")
                {
                    var key = (tower, layer, kind);
                    if (!qkv.TryGetValue(key, out var parts)) qkv[key] = parts = new Tensor?[3];
                    parts[slot] = tensor;
                    continue;
                }
            }
            var renamed = LayerRenames.FirstOrDefault(r => rest.StartsWith(r.Hf, StringComparison.Ordinal));
            Add(result, renamed.Hf is null ? name : prefix + renamed.OpenClip + rest[renamed.Hf.Length..], tensor, name);
        }

        foreach (var ((tower, layer, kind), parts) in qkv)
        {
            if (parts.All(p => p is not null))
            {
                string prefix = (tower == "vision_model" ? "visual.transformer" : "transformer") + $".resblocks.{layer}.";
                Add(result, prefix + "attn.in_proj_" + kind, cat(parts!, 0), $"{tower} layer {layer} q/k/v {kind}");
                continue;
            }
            // Incomplete triple: keep the originals under their names so the strict load lists them and the
            // missing fused tensor.
            string[] slots = ["q_proj", "k_proj", "v_proj"];
            for (int i = 0; i < 3; i++)
                if (parts[i] is { } t) Add(result, $"{tower}.encoder.layers.{layer}.self_attn.{slots[i]}.{kind}", t, "");
        }
        return result;
    }

    /// <summary>
    /// Reads a Hugging Face <c>CLIPModel</c> <c>config.json</c> (<c>text_config</c>, <c>vision_config</c>,
    /// <c>projection_dim</c>, ...; missing fields take transformers' defaults) as a <see cref="ClipConfig"/>.
    /// </summary>
    /// <exception cref="FormatException">Malformed JSON or values.</exception>
    /// <exception cref="NotSupportedException">Different activations per tower, an activation other than GELU /
    /// QuickGELU, or a LayerNorm epsilon other than 1e-5.</exception>
    public static ClipConfig ConfigFromJson(string json)
    {
        using var doc = JsonDocument.Parse(json);
        var root = doc.RootElement;
        var text = root.TryGetProperty("text_config", out var t) && t.ValueKind == JsonValueKind.Object ? t : default;
        var vision = root.TryGetProperty("vision_config", out var v) && v.ValueKind == JsonValueKind.Object ? v : default;

        string textAct = Str(text, "hidden_act", "quick_gelu"), visionAct = Str(vision, "hidden_act", "quick_gelu");
        if (textAct != visionAct)
            throw new NotSupportedException($"The towers use different activations ('{textAct}' and '{visionAct}'); one is supported.");
        bool quick = textAct switch
        {
            "quick_gelu" => true,
            "gelu" => false,
            _ => throw new NotSupportedException($"hidden_act '{textAct}' is not supported (gelu or quick_gelu)."),
        };
        foreach (var (section, name) in new[] { (text, "text_config"), (vision, "vision_config") })
            if (Num(section, "layer_norm_eps", 1e-5) != 1e-5)
                throw new NotSupportedException($"{name}.layer_norm_eps must be 1e-5 (open_clip's LayerNorm).");

        int textWidth = Int(text, "hidden_size", 512), visionWidth = Int(vision, "hidden_size", 768);
        int textHeads = Int(text, "num_attention_heads", 8), visionHeads = Int(vision, "num_attention_heads", 12);
        var config = new ClipConfig
        {
            EmbedDim = Int(root, "projection_dim", 512),
            QuickGelu = quick,
            InitLogitScale = Num(root, "logit_scale_init_value", 2.6592),
            Text = new TextConfig
            {
                ContextLength = Int(text, "max_position_embeddings", 77),
                VocabSize = Int(text, "vocab_size", 49408),
                Width = textWidth,
                Heads = textHeads,
                Layers = Int(text, "num_hidden_layers", 12),
                MlpRatio = (double)Int(text, "intermediate_size", 2048) / textWidth,
            },
            Vision = new VisionConfig
            {
                ImageSize = Int(vision, "image_size", 224),
                PatchSize = Int(vision, "patch_size", 32),
                Width = visionWidth,
                HeadWidth = visionHeads > 0 ? visionWidth / visionHeads : 0,
                Layers = Int(vision, "num_hidden_layers", 12),
                MlpRatio = (double)Int(vision, "intermediate_size", 3072) / visionWidth,
            },
        };
        try { config.Validate(); }
        catch (ArgumentException ex) { throw new FormatException(ex.Message, ex); }
        return config;
    }

    private static void Add(Dictionary<string, Tensor> result, string name, Tensor tensor, string source)
    {
        if (!result.TryAdd(name, tensor))
            throw new InvalidOperationException($"Two Hugging Face tensors map to '{name}' (the second from '{source}').");
    }

    private static int Int(JsonElement obj, string key, int fallback) =>
        obj.ValueKind == JsonValueKind.Object && obj.TryGetProperty(key, out var e) && e.ValueKind != JsonValueKind.Null
            ? (e.TryGetInt32(out int n) ? n : throw new FormatException($"'{key}' must be an integer, got {e.GetRawText()}."))
            : fallback;

    private static double Num(JsonElement obj, string key, double fallback) =>
        obj.ValueKind == JsonValueKind.Object && obj.TryGetProperty(key, out var e) && e.ValueKind != JsonValueKind.Null
            ? (e.TryGetDouble(out double d) ? d : throw new FormatException($"'{key}' must be a number, got {e.GetRawText()}."))
            : fallback;

    private static string Str(JsonElement obj, string key, string fallback) =>
        obj.ValueKind == JsonValueKind.Object && obj.TryGetProperty(key, out var e) && e.ValueKind == JsonValueKind.String
            ? e.GetString()! : fallback;
}
