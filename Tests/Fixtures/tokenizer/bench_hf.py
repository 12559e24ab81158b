#!/usr/bin/env python3
"""The Python side of `make bench-tokenizer`: writes a caption corpus, then times Hugging Face's
Rust tokenizer (transformers' CLIPTokenizer, the `tokenizers` backend) on it, one thread.

Figures match those of `clipq-bench tokenizer` on the same file: a pass with a fresh tokenizer
(empty BPE cache), then the best of --rounds warm passes; tokens are the text's ids without the
two control tokens. `encode_batch` is the Rust loop with no Python per text; the per-text loop
and open_clip's Python tokenizer are printed for scale.

Run: python3 bench_hf.py --corpus /tmp/captions.txt [--texts 20000] [--rounds 5]
"""
import argparse
import os
import random
import time

os.environ["TOKENIZERS_PARALLELISM"] = "false"  # one thread, as clipq's figure
os.environ["RAYON_NUM_THREADS"] = "1"

HERE = os.path.dirname(os.path.abspath(__file__))
VOCAB = os.path.join(HERE, "..", "clip-vocab")

WORDS = {
    "style": ["a photo of", "a close-up photo of", "a black and white photo of", "a painting of",
              "an illustration of", "a sketch of", "a 3D render of", "a blurry photo of", "a cropped photo of",
              "a low-resolution photo of", "a watercolour of", "a screenshot of", "an aerial view of", "a poster of"],
    "count": ["a", "one", "two", "three", "a few", "several", "many", "a group of", "a pair of", "a dozen"],
    "adjective": ["small", "large", "red", "blue", "green", "yellow", "fluffy", "rusty", "shiny", "old",
                  "modern", "tiny", "enormous", "colourful", "sleepy", "happy", "wet", "frozen", "wooden",
                  "glass", "vintage", "broken", "striped", "spotted", "golden", "abandoned", "crowded"],
    "subject": ["cat", "dog", "horse", "child", "woman", "man", "robot", "car", "bicycle", "train", "boat",
                "owl", "fox", "teapot", "guitar", "skyscraper", "bridge", "cupcake", "dragon", "snowman",
                "elephant", "giraffe", "motorcycle", "airplane", "lighthouse", "sunflower", "laptop",
                "pizza", "sandwich", "umbrella", "backpack", "skateboard", "surfboard", "tractor", "penguin"],
    "action": ["sitting", "standing", "running", "sleeping", "jumping", "parked", "floating", "flying",
               "lying", "waiting", "playing", "eating", "walking", "resting", "hiding", "posing"],
    "place": ["in a forest", "on a beach", "in the rain", "at night", "in a city street", "on a table",
              "in the snow", "under a bridge", "next to a window", "in outer space", "in a museum",
              "on a rooftop", "in a field of tulips", "inside a cave", "at the train station",
              "in a kitchen", "on a mountain trail", "by a lake", "in the desert", "at a farmers' market"],
    "extra": ["", "", "", ", with a blue sky", " at sunset", ", shot on film", " in 4k", ", 1970s",
              ". It's raining.", " (cropped)", " - award winning", "!", ", trending on artstation",
              " near Paris", " in Tokyo", ", 35mm"],
}


def make_corpus(count, seed=2026):
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        w = {k: rng.choice(v) for k, v in WORDS.items()}
        caption = f"{w['style']} {w['count']} {w['adjective']} {w['subject']} {w['action']} {w['place']}{w['extra']}"
        if rng.random() < 0.3:
            caption = caption.capitalize()
        out.append(caption)
    return out


def best(f, rounds):
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        f()
        times.append(time.perf_counter() - start)
    return min(times)


def report(name, pass_name, seconds, tokens, texts):
    print(f"{name:<15} {pass_name:<5} {seconds:8.3f} s  {tokens / seconds:10.0f} tokens/s  {texts / seconds:9.0f} texts/s")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--corpus", required=True)
    parser.add_argument("--texts", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()

    texts = make_corpus(args.texts)
    with open(args.corpus, "w", encoding="utf-8") as f:
        f.write("\n".join(texts))

    import tokenizers
    import transformers

    start = time.perf_counter()
    backend = transformers.CLIPTokenizer.from_pretrained(VOCAB).backend_tokenizer
    load = time.perf_counter() - start
    start = time.perf_counter()
    encodings = backend.encode_batch(texts)
    cold = time.perf_counter() - start
    tokens = sum(len(e.ids) - 2 for e in encodings)
    print(f"HF tokenizers {tokenizers.__version__} (transformers {transformers.__version__}), one thread")
    print(f"{'HF Rust':<15} load  {load:8.3f} s  ({len(texts)} texts, {tokens} tokens)")
    report("HF Rust", "cold", cold, tokens, len(texts))
    report("HF Rust", "warm", best(lambda: backend.encode_batch(texts), args.rounds), tokens, len(texts))
    report("HF per text", "warm", best(lambda: [backend.encode(t) for t in texts], args.rounds), tokens, len(texts))

    import open_clip.tokenizer as oct

    reference = oct.SimpleTokenizer()
    reference_tokens = sum(len(reference.encode(t)) for t in texts)
    report("open_clip", "warm", best(lambda: [reference.encode(t) for t in texts], 1), reference_tokens, len(texts))


if __name__ == "__main__":
    main()
