#!/usr/bin/env python3
"""PyTorch + transformers on the same work as `clipq-bench in-process`, for the ratio between the two.

    python3 Benchmarks/torch_bench.py [--model models/random-vit-l-14-336] [--rounds 3] [--dtype bfloat16|qint8]

Same model directory, same batch sizes, same token ids (captions padded to the longest in the
batch, as a user of transformers would batch them). Run it right after `clipq-bench in-process` (or let
`make bench` do it) and compare the medians: the machine is shared, so single figures are noisy.
"""
import argparse
import os
import statistics
import time

import torch
from transformers import CLIPModel


def tokens(length, j):
    return [49406] + [((i + j) * 7919) % 49000 + 1 for i in range(1, length - 1)] + [49407]


def padded(batch):
    longest = max(len(ids) for ids in batch)
    ids = torch.full((len(batch), longest), 49407, dtype=torch.long)
    mask = torch.zeros((len(batch), longest), dtype=torch.long)
    for row, t in enumerate(batch):
        ids[row, : len(t)] = torch.tensor(t)
        mask[row, : len(t)] = 1
    return ids, mask


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="models/random-vit-l-14-336")
    parser.add_argument("--images", type=int, default=8)
    parser.add_argument("--texts", type=int, default=32)
    parser.add_argument("--caption-tokens", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--dtype", choices=["float32", "bfloat16", "qint8"], default="float32",
                        help="weights and activations (bfloat16: as `clipq-bench in-process --precision bf16`; qint8: "
                             "PyTorch's dynamic quantization of the linear layers, int8 weights per tensor and "
                             "activations per tensor at run time, the nearest to `--precision int8`)")
    args = parser.parse_args()
    dtype = torch.float32 if args.dtype == "qint8" else getattr(torch, args.dtype)
    torch.set_num_threads(args.threads)

    t = time.perf_counter()
    model = CLIPModel.from_pretrained(args.model, dtype=dtype).eval()
    reference = None
    if args.dtype == "qint8":
        reference = model
        model = torch.ao.quantization.quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)
    print(f"torch {torch.__version__}, {args.dtype}, {args.threads} thread(s); load {time.perf_counter() - t:.2f} s")
    size = model.config.vision_config.image_size
    n = torch.arange(args.images * 3 * size * size)
    pixels = ((n * 7919) % 1000).float().div(500).sub(1).view(args.images, 3, size, size).to(dtype)
    full = padded([tokens(77, j) for j in range(args.texts)])
    captions = padded([tokens(6 + j % max(1, args.caption_tokens - 5), j) for j in range(args.texts)])

    def rate(count, fn):
        t = time.perf_counter()
        fn()
        return count / (time.perf_counter() - t)

    rates = {"images": [], "77-token texts": [], "captions": []}
    with torch.inference_mode():
        model.get_image_features(pixel_values=pixels[:1])  # warm-up
        for r in range(args.rounds):
            rates["images"].append(rate(args.images, lambda: model.get_image_features(pixel_values=pixels)))
            rates["77-token texts"].append(
                rate(args.texts, lambda: model.get_text_features(input_ids=full[0], attention_mask=full[1])))
            rates["captions"].append(
                rate(args.texts, lambda: model.get_text_features(input_ids=captions[0], attention_mask=captions[1])))
            print(f"round {r + 1}: " + " | ".join(f"{k} {v[-1]:.3f}/s" for k, v in rates.items()))
    print("median: " + " | ".join(f"{k} {statistics.median(v):.3f}/s" for k, v in rates.items()))
    if reference is not None:
        with torch.inference_mode():
            for what, fn in [("image", lambda m: m.get_image_features(pixel_values=pixels[:2])),
                             ("77-token text", lambda m: m.get_text_features(input_ids=full[0][:2], attention_mask=full[1][:2]))]:
                got, want = fn(model), fn(reference)
                got = getattr(got, "pooler_output", got)
                want = getattr(want, "pooler_output", want)
                cosine = torch.nn.functional.cosine_similarity(got, want).min().item()
                print(f"cosine to fp32, lowest of 2 {what}s: {cosine:.6f}")


if __name__ == "__main__":
    main()
