#!/usr/bin/env python3
"""End-to-end reference for `clipq embed` and the worker: files and texts in, embeddings out,
through the reference stack (Pillow + CLIPImageProcessor, open_clip's tokenizer, CLIPModel).

    pip install "pillow<13" transformers open_clip_torch torch numpy
    python3 Tests/Fixtures/tiny-clip/make_pipeline_fixture.py   # writes pipeline_reference.json

Pillow 12 or earlier: Pillow 13 resizes some shapes differently (see
Tests/Fixtures/images/pillow12/make_fixture.py); clipq follows Pillow 12.

Images are RGB or gray files from Tests/Fixtures/images/inputs (no alpha: transformers 5
composites alpha onto white, where the hosted endpoint's transformers 4 dropped it, see the
images README). Texts are tokenized by open_clip, the tokenizer CLIP was trained with, and the
ids fed to the model; the tiny model is the one in this folder.
"""
import json
import os

import numpy as np
import open_clip
import PIL
import torch
from PIL import Image
from transformers import CLIPImageProcessor, CLIPModel

HERE = os.path.dirname(os.path.abspath(__file__))
INPUTS = os.path.join(HERE, "..", "images", "inputs")
IMAGES = ["astronaut.jpg", "coffee.png", "camera_gray.jpg", "odd_337x501.jpg", "rocket_lossless.webp"]
TEXTS = ["a photo of a cat", "An astronaut, in space!", "", "café au lait &amp; croissants", "a " * 100]


def main():
    if int(PIL.__version__.split(".")[0]) >= 13:
        raise SystemExit(f"Pillow {PIL.__version__}: the reference needs Pillow < 13 (pip install 'pillow<13')")
    # The weights are stored in fp16; the reference computes in fp32 on exactly those values.
    model = CLIPModel.from_pretrained(HERE, dtype=torch.float32).eval()
    processor = CLIPImageProcessor.from_pretrained(HERE)
    tokenizer = open_clip.get_tokenizer("ViT-L-14-336")
    with torch.no_grad():
        pixels = processor(images=[Image.open(os.path.join(INPUTS, f)).convert("RGB") for f in IMAGES],
                           return_tensors="pt")["pixel_values"]
        image_features = model.get_image_features(pixel_values=pixels)
        ids = tokenizer(TEXTS)  # [N, 77], zero padded after <|endoftext|>
        text_features = model.get_text_features(input_ids=ids)
    to_list = lambda t: (t.pooler_output if hasattr(t, "pooler_output") else t).float().numpy().astype(np.float64).tolist()
    json.dump({"images": IMAGES, "texts": TEXTS, "image_features": to_list(image_features),
               "text_features": to_list(text_features)},
              open(os.path.join(HERE, "pipeline_reference.json"), "w"), indent=None)
    print(f"{len(IMAGES)} images, {len(TEXTS)} texts")


if __name__ == "__main__":
    main()
