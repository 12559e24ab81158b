#!/usr/bin/env python3
"""The reference side of `make bench-image`: Pillow decode + convert("RGB") + CLIPImageProcessorPil,
from bytes in memory, one thread, the same images and run counts as `clipq-bench image`.
  python3 Tests/Fixtures/images/bench_pillow.py RUNS IMAGE...
Pillow 12 or earlier (pip install "pillow<13") is what clipq matches value for value."""
import io, json, os, sys, time

os.environ.setdefault("OMP_NUM_THREADS", "1")
from PIL import Image
from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil

HERE = os.path.dirname(os.path.abspath(__file__))
processor = CLIPImageProcessorPil(**json.load(open(os.path.join(HERE, "preprocessor_config.json"))))


def run(data):
    image = Image.open(io.BytesIO(data)).convert("RGB")
    return processor(images=image, return_tensors="np")["pixel_values"]


runs, paths = int(sys.argv[1]), sys.argv[2:]
total = 0.0
for path in paths:
    data = open(path, "rb").read()
    run(data)
    best = float("inf")
    for _ in range(runs):  # the fastest run: the least noisy figure on a shared machine
        start = time.perf_counter()
        run(data)
        best = min(best, time.perf_counter() - start)
    ms = best * 1000
    total += ms
    print(f"pillow {ms:8.2f} ms/image  {os.path.basename(path)}")
print(f"pillow {len(paths) * 1000 / total:8.2f} images/s over {len(paths)} images (one thread)")
