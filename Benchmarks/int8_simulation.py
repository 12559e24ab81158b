#!/usr/bin/env python3
"""clipq's int8 scheme simulated in NumPy, for the tiers a machine does not have and for finding
where the error comes from (docs/internals-int8.md quotes its figures as "simulated").

    python3 Benchmarks/int8_simulation.py moderate                  # every scheme, both towers
    python3 Benchmarks/int8_simulation.py harsh --steady-logits     # (harsh already has them)
    python3 Benchmarks/int8_simulation.py full-size [--steady-logits]   # vision tower, ~1 min a scheme

The scheme as clipq runs it: weights symmetric per output channel (7 bits without VNNI, 8 with),
activations symmetric per token in 8 bits, each layer norm's outlier channels (3|gamma| + |beta|
above 6x the median, at most 1/16 of the width) left out of the int8 products of the layers after
it and multiplied in fp32, the patch embedding in fp32; q, k, v and the attention probabilities
rounded to bf16 where the CPU has bf16 (unmasked attention only). Layer norms, softmax, GELU and
residuals in fp32. It is a model of the arithmetic, not of oneDNN's kernels: its figures came
within 0.0015 of clipq's own wherever both were measured (Zen 3, 7-bit weights).

- moderate, harsh: Tests/Fixtures/outlier-clip, against transformers' fp32 embeddings there.
- full-size: models/random-vit-l-14-336 (clipq-bench writes it) with 6 channels x30 in every layer
  norm, against this simulation's own fp32 (as FullSizeOutlierTests does in Swift).
- --steady-logits divides the outlier channels' query and key input columns by the factor again
  (harsh's recipe in make_outlier_fixtures.py), and then compares against the model's own fp32.
- "bf16 weights in fp32": the weight matrices rounded to bf16 and everything else in fp32, the
  model's own sensitivity (a checkpoint shipped and run in fp16 is stable under it).

Needs numpy and safetensors.
"""
import argparse
import json
import os

import numpy as np
from safetensors.numpy import load_file

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")


def bf16(x):
    bits = np.ascontiguousarray(x, dtype=np.float32).view(np.uint32)
    rounded = (bits + 0x7FFF + ((bits >> 16) & 1)) & 0xFFFF0000
    return rounded.astype(np.uint32).view(np.float32)


def quantize_symmetric(x, bits, axis):
    limit = 2 ** (bits - 1) - 1
    scale = np.abs(x).max(axis=axis, keepdims=True) / limit
    scale[scale == 0] = 1
    return np.clip(np.round(x / scale), -limit, limit) * scale


class Scheme:
    """How the linear layers multiply: None (fp32) or weight bits; bf16 rounding of attention."""

    def __init__(self, weight_bits=None, bf16_attention=False, patch_int8=False, bf16_linear=False,
                 bf16_weights_only=False):
        self.weight_bits, self.bf16_attention = weight_bits, bf16_attention
        self.patch_int8, self.bf16_linear, self.bf16_weights_only = patch_int8, bf16_linear, bf16_weights_only


class CLIP:
    def __init__(self, weights, config):
        self.W, self.config = weights, config

    def outliers(self, norm):
        a = 3 * np.abs(self.W[norm + ".weight"]) + np.abs(self.W[norm + ".bias"])
        median = np.sort(a)[len(a) // 2]
        return sorted([j for j in np.argsort(-a) if a[j] > 6 * median][: max(1, len(a) // 16)])

    def linear(self, x, name, scheme, outliers=(), bias=True, patch=False):
        w = self.W[name + ".weight"].reshape(self.W[name + ".weight"].shape[0], -1)
        b = self.W.get(name + ".bias") if bias else None
        if scheme.bf16_weights_only:
            y = x @ bf16(w).T
        elif scheme.bf16_linear:
            y = bf16(x) @ bf16(w).T
        elif scheme.weight_bits is None or (patch and not scheme.patch_int8):
            y = x @ w.T
        else:
            keep = np.ones(x.shape[-1], bool)
            keep[list(outliers)] = False
            wq = quantize_symmetric(w * keep, scheme.weight_bits, axis=1)
            xq = quantize_symmetric(x * keep, 8, axis=-1)
            y = xq @ wq.T + (x * ~keep) @ (w * ~keep).T
        return y if b is None else y + b

    def layer_norm(self, x, name, eps=1e-5):
        mean = x.mean(-1, keepdims=True)
        var = ((x - mean) ** 2).mean(-1, keepdims=True)
        return (x - mean) / np.sqrt(var + eps) * self.W[name + ".weight"] + self.W[name + ".bias"]

    def encoder(self, x, prefix, tower, scheme, causal):
        heads = tower["num_attention_heads"]
        for i in range(tower["num_hidden_layers"]):
            p = f"{prefix}.encoder.layers.{i}"
            o1, o2 = self.outliers(p + ".layer_norm1"), self.outliers(p + ".layer_norm2")
            h = self.layer_norm(x, p + ".layer_norm1")
            rounded = bf16 if scheme.bf16_attention and not causal else (lambda t: t)
            q, k, v = (rounded(self.linear(h, f"{p}.self_attn.{n}_proj", scheme, o1)) for n in "qkv")
            T, D = h.shape
            hd = D // heads
            a = np.zeros_like(h)
            for head in range(heads):
                c = slice(head * hd, (head + 1) * hd)
                s = q[:, c] @ k[:, c].T * hd ** -0.5
                if causal:
                    s = s + np.triu(np.full((T, T), -np.inf), 1)
                e = np.exp(s - s.max(-1, keepdims=True))
                a[:, c] = rounded(e / e.sum(-1, keepdims=True)) @ v[:, c]
            x = x + self.linear(a, p + ".self_attn.out_proj", scheme)
            h = self.layer_norm(x, p + ".layer_norm2")
            g = self.linear(h, p + ".mlp.fc1", scheme, o2)
            x = x + self.linear(g / (1 + np.exp(-1.702 * g)), p + ".mlp.fc2", scheme)
        return x

    def image(self, pixels, scheme):
        vc = self.config["vision_config"]
        P = vc["patch_size"]
        C, S, _ = pixels.shape
        G = S // P
        patches = pixels.reshape(C, G, P, G, P).transpose(1, 3, 0, 2, 4).reshape(G * G, C * P * P)
        e = self.linear(patches, "vision_model.embeddings.patch_embedding", scheme, bias=False, patch=True)
        x = np.concatenate([self.W["vision_model.embeddings.class_embedding"][None], e])
        x = self.layer_norm(x + self.W["vision_model.embeddings.position_embedding.weight"], "vision_model.pre_layrnorm")
        x = self.encoder(x, "vision_model", vc, scheme, causal=False)
        pooled = self.layer_norm(x[0], "vision_model.post_layernorm")
        return self.linear(pooled[None], "visual_projection", scheme, bias=False)[0]

    def text(self, ids, scheme):
        tc = self.config["text_config"]
        x = self.W["text_model.embeddings.token_embedding.weight"][ids]
        x = x + self.W["text_model.embeddings.position_embedding.weight"][: len(ids)]
        x = self.layer_norm(self.encoder(x, "text_model", tc, scheme, causal=True), "text_model.final_layer_norm")
        return self.linear(x[ids.index(tc["eos_token_id"])][None], "text_projection", scheme, bias=False)[0]


def pixels(count, channels, size):
    """tiny-clip's make_fixtures.pixels: ((x*7 + y*13 + c*29 + b*31) % 97) / 48 - 1."""
    b, c = np.arange(count).reshape(-1, 1, 1, 1), np.arange(channels).reshape(1, -1, 1, 1)
    y, x = np.arange(size).reshape(1, 1, -1, 1), np.arange(size).reshape(1, 1, 1, -1)
    return (((x * 7 + y * 13 + c * 29 + b * 31) % 97) / 48 - 1).astype(np.float32)


def cosines(got, want):
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    return (got * want).sum(-1) / np.linalg.norm(got, axis=-1) / np.linalg.norm(want, axis=-1)


def steady_logits(model, tower, factor):
    for i in range(model.config[tower + "_config"]["num_hidden_layers"]):
        p = f"{tower}_model.encoder.layers.{i}"
        channels = model.outliers(p + ".layer_norm1")
        for name in ("q_proj", "k_proj"):
            model.W[f"{p}.self_attn.{name}.weight"][:, channels] /= factor


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", choices=["moderate", "harsh", "full-size"])
    parser.add_argument("--steady-logits", action="store_true")
    args = parser.parse_args()

    if args.model == "full-size":
        directory = os.path.join(ROOT, "models", "random-vit-l-14-336")
        config = json.load(open(os.path.join(directory, "config.json")))
        weights = {k: v.astype(np.float32) for k, v in load_file(os.path.join(directory, "model.safetensors")).items()
                   if k.startswith(("vision_model", "visual_projection"))}
        width = config["vision_config"]["hidden_size"]
        channels = [(c * 7919 + 13) % width for c in range(6)]
        for i in range(config["vision_config"]["num_hidden_layers"]):
            for norm in ("layer_norm1", "layer_norm2"):
                for part in ("weight", "bias"):
                    weights[f"vision_model.encoder.layers.{i}.{norm}.{part}"][channels] *= 30
        model, factor, towers = CLIP(weights, config), 30.0, ["image"]
        reference = None
        images, texts = pixels(2, 3, config["vision_config"]["image_size"]), []
    else:
        directory = os.path.join(ROOT, "Tests", "Fixtures", "outlier-clip", args.model)
        config = json.load(open(os.path.join(directory, "config.json")))
        weights = {k: v.astype(np.float32) for k, v in load_file(os.path.join(directory, "model.safetensors")).items()}
        fixture = json.load(open(os.path.join(directory, "reference.json")))
        model, factor, towers = CLIP(weights, config), fixture["variant"]["factor"], ["image", "text"]
        reference = {"image": fixture["quick_gelu"]["image"], "text": fixture["quick_gelu"]["text"]}
        images, texts = pixels(fixture["image_count"], 3, config["vision_config"]["image_size"]), fixture["token_ids"]
    if args.steady_logits and not (reference and fixture["variant"].get("steady_logits")):
        for tower in ("vision", "text") if "text" in towers else ("vision",):
            steady_logits(model, tower, factor)
        reference = None  # the model changed: its own fp32 is the reference

    def encode(scheme):
        out = {"image": [model.image(p, scheme) for p in images]}
        if "text" in towers:
            out["text"] = [model.text(ids, scheme) for ids in texts]
        return out

    fp32 = encode(Scheme())
    reference = reference or fp32
    schemes = [
        ("fp32", Scheme()),
        ("bf16 weights in fp32", Scheme(bf16_weights_only=True)),
        ("bf16 (linear layers and attention)", Scheme(bf16_linear=True, bf16_attention=True)),
        ("int8, 7-bit weights (AVX2)", Scheme(weight_bits=7)),
        ("int8, 7-bit weights, patch int8 too", Scheme(weight_bits=7, patch_int8=True)),
        ("int8, 8-bit weights (VNNI)", Scheme(weight_bits=8)),
        ("int8, 8-bit weights, bf16 attention", Scheme(weight_bits=8, bf16_attention=True)),
    ]
    for label, scheme in schemes:
        got = encode(scheme)
        figures = "  ".join(f"{t}s " + " ".join(f"{c:.5f}" for c in cosines(got[t], reference[t])) for t in towers)
        print(f"{args.model}{' (steady logits)' if args.steady_logits else ''} {label:38s} {figures}", flush=True)


if __name__ == "__main__":
    with np.errstate(over="ignore"):  # exp of very negative GELU inputs: 0, as intended
        main()
