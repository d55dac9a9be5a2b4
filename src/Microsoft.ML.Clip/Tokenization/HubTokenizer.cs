using System;
using System.IO;
using System.Linq;
using Microsoft.ML.Clip.Modeling;

namespace Microsoft.ML.Clip.Tokenization;

/// <summary>
/// The tokenizer of an open_clip hub folder (<see cref="OpenClipHubFolder"/>). Every tokenizer a hub folder can name is
/// decided here, in one place.
/// </summary>
internal static class HubTokenizer
{
    /// <summary>
    /// The folder's tokenizer: CLIP's byte-level BPE from <c>vocab.json</c> and <c>merges.txt</c> when the config names no
    /// Hugging Face tokenizer (<c>text_cfg.hf_tokenizer_name</c>).
    /// </summary>
    /// <exception cref="NotSupportedException">The config names a Hugging Face tokenizer (SigLIP's SentencePiece
    /// <c>spiece.model</c>, SigLIP 2's Gemma <c>tokenizer.model</c>), which this build does not read; the message names the file.</exception>
    /// <exception cref="FileNotFoundException">A CLIP BPE model without its two files.</exception>
    public static ClipTokenizer Create(OpenClipHubFolder hub)
    {
        ArgumentNullException.ThrowIfNull(hub);
        if (hub.TextSetting("hf_tokenizer_name") is { } name)
        {
            string file = new[] { "spiece.model", "tokenizer.model", "tokenizer.json" }
                .Select(hub.PathOf).FirstOrDefault(File.Exists) ?? hub.PathOf("spiece.model");
            throw new NotSupportedException($"{hub.PathOf(OpenClipHubFolder.ConfigFileName)} names the Hugging Face tokenizer '{name}' " +
                $"(text_cfg.hf_tokenizer_name), read from '{file}'; this build reads only CLIP's BPE files (vocab.json and merges.txt).");
        }
        string vocab = hub.PathOf("vocab.json"), merges = hub.PathOf("merges.txt");
        foreach (var path in new[] { vocab, merges })
            if (!File.Exists(path))
                throw new FileNotFoundException($"The CLIP tokenizer of '{hub.Folder}' needs vocab.json and merges.txt; '{path}' is missing " +
                    "(or load the weights with ClipModelBundle.Load and a tokenizer of your choice).", path);
        return ClipTokenizer.FromHuggingFace(vocab, merges);
    }
}
