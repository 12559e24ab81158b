#!/usr/bin/env python3
"""Writes a model directory clipq reads: config.json, model.safetensors (fp32, one file),
vocab.json, merges.txt and preprocessor_config.json.

    pip install torch transformers huggingface_hub
    python3 scripts/get-model.py                          # openai/clip-vit-large-patch14-336
    python3 scripts/get-model.py --name openai/clip-vit-base-patch32 --out models/clip-b32

The tokenizer and preprocessor files are the hub repository's own (transformers 5's
save_pretrained would write tokenizer.json and processor_config.json instead). --source DIR
reads a local Hugging Face directory instead of the hub (no network needed).
"""
import argparse
import os
import shutil

import torch
from transformers import CLIPModel

FILES = ["vocab.json", "merges.txt", "preprocessor_config.json"]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--name", default="openai/clip-vit-large-patch14-336")
    parser.add_argument("--out", default="models/clip-vit-large-patch14-336")
    parser.add_argument("--source", help="a local Hugging Face model directory to convert instead")
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    for name in FILES:
        if args.source:
            shutil.copyfile(os.path.join(args.source, name), os.path.join(args.out, name))
        else:
            from huggingface_hub import hf_hub_download
            hf_hub_download(args.name, name, local_dir=args.out)
    model = CLIPModel.from_pretrained(args.source or args.name, torch_dtype=torch.float32)
    model.save_pretrained(args.out, safe_serialization=True, max_shard_size="20GB")  # one fp32 file
    print("wrote", ", ".join(sorted(os.listdir(args.out))), "to", args.out)


if __name__ == "__main__":
    main()
