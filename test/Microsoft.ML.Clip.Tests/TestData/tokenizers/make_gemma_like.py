"""Builds gemma-like/tokenizer.model and gemma-like/cases.jsonl: a small SentencePiece model of the kind SigLIP 2 ships
as Gemma's tokenizer.model, and reference encodings from SentencePiece itself.

Not a test dependency (both outputs are committed). Run with Debian's python3-sentencepiece (0.1.97) and spm_train:
    /usr/bin/python3 make_gemma_like.py
The trainer options are those Gemma's tokenizer.model records in its trainer_spec and normalizer_spec: BPE, byte
fallback, digits split, whitespace-only pieces allowed, no dummy prefix, extra whitespace kept, identity normalization,
pad 0 <pad>, eos 1 <eos>, bos 2 <bos>, unk 3 <unk>, control and user-defined symbols after them. Only the vocabulary
size (600 instead of 256,000) and the training text (made up here) differ.
"""
import html
import json
import string
import os
import random
import subprocess
import tempfile

import sentencepiece as spm

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "gemma-like")
SYLLABLES = ["ka", "ne", "ph", "st", "qu", "ex", "in", "do", "su", "mo", "th", "ri", "pe", "vi", "ch", "on", "er"]
WORDS = ["a", "photo", "of", "the", "cat", "dog", "red", "green", "blue", "small", "large", "circle", "square",
         "painting", "tree", "house", "star", "on", "left", "right", "with", "and", "in", "sky", "river"]


def sentence(rng):
    words = []
    for _ in range(rng.randint(3, 12)):
        if rng.random() < 0.6:
            words.append(rng.choice(WORDS))
        else:
            words.append("".join(rng.choice(SYLLABLES) for _ in range(rng.randint(1, 3))))
    if rng.random() < 0.3:
        words.append(str(rng.randint(0, 99999)))
    return " ".join(words)


def clean(text):
    # open_clip's _clean_canonicalize without ftfy: basic_clean (html.unescape twice, strip), then canonicalize_text.
    text = html.unescape(html.unescape(text)).strip()
    text = text.replace("_", " ").translate(str.maketrans("", "", string.punctuation)).lower()
    return " ".join(text.split()).strip()


def main():
    rng = random.Random(7)
    os.makedirs(OUT, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        corpus = os.path.join(tmp, "corpus.txt")
        with open(corpus, "w", encoding="utf-8") as f:
            for _ in range(3000):
                f.write(sentence(rng) + "\n")
        prefix = os.path.join(tmp, "tokenizer")
        subprocess.run([
            "spm_train", f"--input={corpus}", f"--model_prefix={prefix}", "--model_type=bpe", "--vocab_size=600",
            "--character_coverage=1.0", "--byte_fallback=true", "--split_digits=true",
            "--allow_whitespace_only_pieces=true", "--remove_extra_whitespaces=false", "--add_dummy_prefix=false",
            "--normalization_rule_name=identity", "--pad_id=0", "--eos_id=1", "--bos_id=2", "--unk_id=3",
            "--pad_piece=<pad>", "--eos_piece=<eos>", "--bos_piece=<bos>", "--unk_piece=<unk>",
            "--control_symbols=<mask>,[multimodal]", "--user_defined_symbols=<start_of_turn>,<end_of_turn>",
            "--minloglevel=2",
        ], check=True)
        with open(prefix + ".model", "rb") as src, open(os.path.join(OUT, "tokenizer.model"), "wb") as dst:
            dst.write(src.read())

    sp = spm.SentencePieceProcessor(model_file=os.path.join(OUT, "tokenizer.model"))
    texts = ["a photo of a cat", "A Photo Of A CAT!!", "  red_green   blue\tstar ", "", "café naïve",
             "numbers 12345 and 3.14", "Ελληνικά", "emoji 😀 mix", "tree house?", "<start_of_turn> user",
             "&lt;eos&gt; stays text", "x" * 70]
    texts += [sentence(rng) for _ in range(40)]
    with open(os.path.join(OUT, "cases.jsonl"), "w", encoding="utf-8") as f:
        for text in texts:
            canonical = clean(text)
            f.write(json.dumps({"text": text, "canonical": canonical, "piece_ids": sp.encode(canonical)}, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
