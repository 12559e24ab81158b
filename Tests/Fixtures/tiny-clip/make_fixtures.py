#!/usr/bin/env python3
"""Reference embeddings from transformers' CLIPModel for the Swift encoder tests.

    python3 Tests/Fixtures/tiny-clip/make_fixtures.py            # rewrites the tiny fixture here
    python3 Tests/Fixtures/tiny-clip/make_fixtures.py --model DIR  # DIR/clipq-reference.json for a
                                                                   # full-size model (CLIPQ_FULL_MODEL)

The tiny model keeps every code path of ViT-L/14@336 (336 input, patch 14, quick_gelu, the real
49408-token vocabulary) with small widths and two layers. Its weights are drawn wider than
transformers' init (biases and layer-norm parameters non-trivial, attention not uniform) so that a
mix-up of any two tensors changes the output; they are stored as fp16 to keep the file small and
the reference runs in fp32 on exactly the stored values.

Inputs are made by formulas the Swift tests repeat (integers only, so both sides agree bit for
bit): see `pixels()` and TOKEN_IDS. Variants run the same weights with hidden_act "gelu" and with
the legacy eos_token_id 2 (pooling at the largest id).
"""
import argparse
import json
import os

import torch
from safetensors.torch import save_file
from transformers import CLIPConfig, CLIPModel

HERE = os.path.dirname(os.path.abspath(__file__))

BOS, EOS = 49406, 49407
TOKEN_IDS = [
    [BOS, 320, 1125, 539, 320, 2368, 49407],  # "a photo of a cat"
    [BOS, EOS],  # the empty caption
    [BOS] + [(i * 7919) % 49000 + 1 for i in range(75)] + [EOS],  # the full 77-token context
    [BOS, 1000, 2000, EOS] + [EOS] * 16,  # padded with the end token, as CLIPTokenizer pads
    [BOS] + [(i * 104729) % 40000 + 3 for i in range(10)] + [EOS],  # a 12-token caption
    [320, 1125, 30000, 539],  # no end token: position 0 by eos_token_id, position 2 by the legacy argmax
]


def pixels(count, channels, size):
    """[count, channels, size, size] in about [-1, 1]: ((x*7 + y*13 + c*29 + b*31) % 97) / 48 - 1."""
    b = torch.arange(count).view(-1, 1, 1, 1)
    c = torch.arange(channels).view(1, -1, 1, 1)
    y = torch.arange(size).view(1, 1, -1, 1)
    x = torch.arange(size).view(1, 1, 1, -1)
    return (((x * 7 + y * 13 + c * 29 + b * 31) % 97).to(torch.float64) / 48 - 1).to(torch.float32)


def features(output):
    # transformers 5 returns the projected pooler output inside a model output, 4.x a tensor.
    return output if torch.is_tensor(output) else output.pooler_output


@torch.no_grad()
def embeddings(model, image_count):
    model.eval()
    vc = model.config.vision_config
    texts = [features(model.get_text_features(input_ids=torch.tensor([ids])))[0] for ids in TOKEN_IDS]
    result = {"text": torch.stack(texts).tolist()}
    if image_count:
        images = pixels(image_count, vc.num_channels, vc.image_size)
        result["image"] = features(model.get_image_features(pixel_values=images)).tolist()
    return result


def tiny_model():
    torch.manual_seed(0)
    config = CLIPConfig(
        text_config=dict(vocab_size=49408, hidden_size=24, intermediate_size=48, num_hidden_layers=2,
                         num_attention_heads=2, max_position_embeddings=77, hidden_act="quick_gelu",
                         layer_norm_eps=1e-5, eos_token_id=EOS, bos_token_id=BOS),
        vision_config=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                           image_size=336, patch_size=14, num_channels=3, hidden_act="quick_gelu",
                           layer_norm_eps=1e-5),
        projection_dim=16,
    )
    model = CLIPModel(config).eval()
    draw_weights(model)
    with torch.no_grad():
        # Round once to fp16: the file stores these values and the reference computes on them.
        for p in model.parameters():
            p.copy_(p.half().float())
    return model


@torch.no_grad()
def draw_weights(model):
    """Non-trivial norms and biases, unit-gain matrices (outputs of order one), from torch's RNG."""
    for name, p in model.named_parameters():
        if "norm" in name:  # layer_norm1/2, pre_layrnorm, post_layernorm, final_layer_norm
            p.copy_((1 if name.endswith("weight") else 0) + 0.2 * torch.randn_like(p))
        elif name.endswith("bias"):
            p.copy_(0.1 * torch.randn_like(p))
        elif p.dim() >= 2 and "embedding" not in name:
            p.copy_(torch.randn_like(p) / p[0].numel() ** 0.5)
        elif "embedding" in name:
            p.copy_(0.5 * torch.randn_like(p))


def with_config(model, **changes):
    config = CLIPConfig.from_dict(model.config.to_dict())
    for key, value in changes.items():
        for sub in (config.text_config, config.vision_config):
            if key == "hidden_act":
                setattr(sub, key, value)
        if key == "eos_token_id":
            config.text_config.eos_token_id = value
    other = CLIPModel(config).eval()
    other.load_state_dict(model.state_dict())
    return other


def make_tiny():
    model = tiny_model()
    model.config.save_pretrained(HERE)
    state = {k: v.half().contiguous() for k, v in model.state_dict().items() if "position_ids" not in k}
    save_file(state, os.path.join(HERE, "model.safetensors"), metadata={"format": "pt"})
    reference = {
        "token_ids": TOKEN_IDS,
        "image_count": 3,
        "quick_gelu": embeddings(model, 3),
        "gelu": embeddings(with_config(model, hidden_act="gelu"), 3),
        "legacy_eos": embeddings(with_config(model, eos_token_id=2), 0),
    }
    with open(os.path.join(HERE, "reference.json"), "w") as f:
        json.dump(reference, f)
    print("wrote", HERE)


def make_full(directory):
    model = CLIPModel.from_pretrained(directory, torch_dtype=torch.float32).eval()
    reference = {"token_ids": TOKEN_IDS, "image_count": 2, "quick_gelu": embeddings(model, 2)}
    path = os.path.join(directory, "clipq-reference.json")
    with open(path, "w") as f:
        json.dump(reference, f)
    print("wrote", path)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", help="a full-size model directory to write clipq-reference.json into")
    args = parser.parse_args()
    make_full(args.model) if args.model else make_tiny()
