#!/usr/bin/env python3
"""Derive CLIP's vocab.json and merges.txt (Hugging Face layout) from open_clip's BPE file.

The hub files of openai/clip-vit-* cannot be downloaded here, but open_clip's pip package ships
the BPE that OpenAI trained (bpe_simple_vocab_16e6.txt.gz). OpenAI's tokenizer builds its
vocabulary from it in a fixed order: the 256 byte symbols, the same with "</w>", one token per
merge (the first 48894 merges), then the two control tokens. Hugging Face's files hold exactly
that vocabulary (49408 tokens, <|startoftext|> 49406, <|endoftext|> 49407) and the same merges
under a "#version: 0.2" header; this script writes them and then checks them against
transformers' CLIPTokenizer loaded from this directory and against open_clip's tokenizer.

Run by hand (needs open_clip_torch and transformers): python3 make_vocab.py
"""
import gzip
import json
import os
import sys

import open_clip.tokenizer as oct

HERE = os.path.dirname(os.path.abspath(__file__))
MERGE_COUNT = 49152 - 256 - 2  # as OpenAI's and Hugging Face's loaders slice it


def derive():
    lines = gzip.open(oct.default_bpe()).read().decode("utf-8").split("\n")
    merges = [tuple(line.split()) for line in lines[1 : MERGE_COUNT + 1]]
    assert all(len(m) == 2 for m in merges)
    symbols = list(oct.bytes_to_unicode().values())
    vocab = symbols + [s + "</w>" for s in symbols] + ["".join(m) for m in merges]
    vocab += ["<|startoftext|>", "<|endoftext|>"]
    encoder = {token: i for i, token in enumerate(vocab)}
    assert len(encoder) == len(vocab) == 49408, "a merged token repeats: ids would shift"
    return encoder, merges


def write(encoder, merges):
    with open(os.path.join(HERE, "vocab.json"), "w", encoding="utf-8") as f:
        json.dump(encoder, f, ensure_ascii=False, separators=(",", ":"))
    with open(os.path.join(HERE, "merges.txt"), "w", encoding="utf-8") as f:
        f.write("#version: 0.2\n")
        for a, b in merges:
            f.write(f"{a} {b}\n")


def check(encoder, merges):
    from transformers import CLIPTokenizer

    hf = CLIPTokenizer.from_pretrained(HERE)
    assert hf.get_vocab() == encoder, "transformers reads a different vocabulary"
    assert hf.convert_tokens_to_ids(["<|startoftext|>", "<|endoftext|>"]) == [49406, 49407]
    ref = oct.SimpleTokenizer()
    assert ref.bpe_ranks == {m: i for i, m in enumerate(merges)}
    texts = [
        "a photo of a cat",
        "A Diagram of the Krebs cycle, 1953 (colourised)!",
        "it's the dog's toy; they'll've gone",
        "naïve café résumé 東京 123456",
        "supercalifragilisticexpialidocious antidisestablishmentarianism",
    ]
    for text in texts:
        want = ref.encode(text)
        got = hf(text)["input_ids"]
        assert got == [49406] + want + [49407], (text, got, want)
    print(f"ok: {len(encoder)} tokens, {len(merges)} merges; transformers and open_clip agree")


if __name__ == "__main__":
    encoder, merges = derive()
    write(encoder, merges)
    check(encoder, merges)
    sys.exit(0)
