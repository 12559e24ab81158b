#!/usr/bin/env python3
"""Stress models for int8: tiny CLIPs whose layer norms have a few outlier channels, as real CLIP
checkpoints do (a few LayerNorm output channels tens of times larger than the rest, in most layers
of both towers), with transformers' fp32 embeddings of the tiny fixture's images and texts.

    python3 Tests/Fixtures/outlier-clip/make_outlier_fixtures.py   # rewrites moderate/ and harsh/ here

- moderate/: in every layer of both towers, layer_norm1 and layer_norm2 scale 2 of their 128
  channels (the same ones in every layer, as the residual stream's outlier channels are) by 30:
  per token, the largest value is ~15x the root mean square (ViT-L with 6 of 1024 channels at 30x:
  ~24x), and the outlier channels carry ~93% of the norm's output energy (ViT-L: ~84%).
- harsh/: 4 channels by 80, and every other channel's scale drawn from [0.5, 2]; the query and key
  projections take those 4 input channels divided by 80 again, so that attention logits keep the
  size they have without the outliers, as a trained model's do. Left uncompensated, the logits
  grow with the square of the factor, attention becomes a near tie of huge numbers, and the text
  tower turns chaotic: rounding its weights to bf16 and computing in fp32 moved the 77-token
  caption to cosine 0.996 of its own fp32 embedding. No checkpoint shipped in fp16 and run in
  fp16 or bf16 (as CLIP's are) can be like that; such a model measures its own instability, not
  the precision it runs in. The activations still carry the 80x channels into every projection.

The weights are drawn as tiny-clip's (make_fixtures.py: biases and norms non-trivial, unit-gain
matrices; in moderate nothing compensates the outliers, so attention logits grow with them too),
128 wide with three layers, stored as fp16; the reference runs in fp32 on the stored values. To keep
the file small the vocabulary has 1024 tokens (start 1022, end 1023) and the captions are made of
ids below it (TOKEN_IDS here); the images are tiny-clip's pixels(), which the Swift tests repeat.
"""
import json
import os
import sys

import torch
from safetensors.torch import save_file
from transformers import CLIPConfig, CLIPModel

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tiny-clip"))
import make_fixtures  # noqa: E402
from make_fixtures import embeddings  # noqa: E402

VOCAB, BOS, EOS = 1024, 1022, 1023
TOKEN_IDS = [
    [BOS, 320, 112, 539, 320, 236, EOS],  # a short caption
    [BOS, EOS],  # the empty caption
    [BOS] + [(i * 7919) % 1000 + 1 for i in range(75)] + [EOS],  # the full 77-token context
    [BOS, 100, 200, EOS] + [EOS] * 16,  # padded with the end token
    [BOS] + [(i * 104729) % 1000 + 3 for i in range(10)] + [EOS],  # a 12-token caption
]
make_fixtures.TOKEN_IDS = TOKEN_IDS  # embeddings() encodes these

VARIANTS = {
    "moderate": dict(channels=2, factor=30.0, spread=None, seed=1, steady_logits=False),
    "harsh": dict(channels=4, factor=80.0, spread=(0.5, 2.0), seed=2, steady_logits=True),
}


def stress_model(channels, factor, spread, seed, steady_logits):
    torch.manual_seed(seed)
    config = CLIPConfig(
        text_config=dict(vocab_size=VOCAB, hidden_size=128, intermediate_size=512, num_hidden_layers=3,
                         num_attention_heads=2, max_position_embeddings=77, hidden_act="quick_gelu",
                         layer_norm_eps=1e-5, eos_token_id=EOS, bos_token_id=BOS, pad_token_id=EOS),
        vision_config=dict(hidden_size=128, intermediate_size=512, num_hidden_layers=3, num_attention_heads=2,
                           image_size=336, patch_size=14, num_channels=3, hidden_act="quick_gelu",
                           layer_norm_eps=1e-5),
        projection_dim=16,
    )
    model = CLIPModel(config).eval()
    make_fixtures.draw_weights(model)
    with torch.no_grad():
        for tower in (model.text_model, model.vision_model):
            width = tower.config.hidden_size
            outliers = torch.randperm(width)[:channels]  # one set per tower, every layer
            for layer in tower.encoder.layers:
                for norm in (layer.layer_norm1, layer.layer_norm2):
                    scale = torch.ones(width)
                    if spread:
                        lo, hi = spread
                        scale = lo + (hi - lo) * torch.rand(width)
                    scale[outliers] = factor
                    norm.weight.mul_(scale)
                    norm.bias.mul_(scale)
                if steady_logits:  # layer_norm1's outlier channels enter queries and keys at their old size
                    for projection in (layer.self_attn.q_proj, layer.self_attn.k_proj):
                        projection.weight[:, outliers] /= factor
        for p in model.parameters():
            p.copy_(p.half().float())
    return model


def make(name, **variant):
    directory = os.path.join(HERE, name)
    os.makedirs(directory, exist_ok=True)
    model = stress_model(**variant)
    model.config.save_pretrained(directory)
    state = {k: v.half().contiguous() for k, v in model.state_dict().items() if "position_ids" not in k}
    save_file(state, os.path.join(directory, "model.safetensors"), metadata={"format": "pt"})
    reference = {"token_ids": TOKEN_IDS, "image_count": 2, "variant": variant, "quick_gelu": embeddings(model, 2)}
    with open(os.path.join(directory, "reference.json"), "w") as f:
        json.dump(reference, f)
    print("wrote", directory)


if __name__ == "__main__":
    for name, variant in VARIANTS.items():
        make(name, **variant)
