#!/usr/bin/env python3
"""Makes the fixture that pins clipq's bicubic resize to Pillow 12 (and earlier), not Pillow 13.

    pip install "pillow>=9.1,<13" numpy
    python3 Tests/Fixtures/images/pillow12/make_fixture.py

Pillow 13 (python-pillow/Pillow#9549) runs the vertical pass first when a resize reduces the
height much more than the width; Pillow 12 and earlier always run the horizontal pass first.
The two orders round the intermediate image to bytes at different points, so for shapes like
343x999 -> 336x978 a quarter of the values of this texture differ (by up to 22 levels), and
an eighth of those of a photo. clipq, and the hosted endpoint it replaces, follow Pillow 12.

Writes, beside this script:
  input_343x999.png     a deterministic 343x999 RGB texture with detail in both directions
  expected_343x999.png  the 336x336 crop CLIPImageProcessorPil (shortest edge 336, bicubic,
                        center crop 336) takes of it before rescale+normalize: Pillow's
                        resize to 336x978, rows 321..656.
Run with Pillow 13 installed and --compare, it only reports how Pillow 13 differs.
"""
import os
import sys

import numpy as np
import PIL
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
WIDTH, HEIGHT = 343, 999


def texture():
    y, x = np.mgrid[0:HEIGHT, 0:WIDTH]
    r = (np.sin(x * 1.3) * np.cos(y * 0.9) + 1) * 127
    g = ((x // 2 + y // 3) % 3) * 120
    b = (x * 7 + y * 11) % 256
    return np.stack([r, g, b], -1).astype(np.uint8)


def crop(image):
    """CLIPImageProcessorPil's resize (shortest edge to 336, the other int(336 * long / short))
    and its 336x336 center crop (offsets int((size - 336) / 2))."""
    new_height = int(336 * HEIGHT / WIDTH)
    resized = np.asarray(image.resize((336, new_height), Image.BICUBIC))
    top = int((new_height - 336) / 2)
    return resized[top:top + 336]


def main():
    major = int(PIL.__version__.split(".")[0])
    image = Image.fromarray(texture())
    if "--compare" in sys.argv:
        expected = np.asarray(Image.open(os.path.join(HERE, "expected_343x999.png"))).astype(int)
        diff = np.abs(crop(image).astype(int) - expected)
        print(f"Pillow {PIL.__version__}: {np.mean(diff > 0) * 100:.1f}% of values differ, by up to {diff.max()}")
        return 0
    if major >= 13:
        print(f"Pillow {PIL.__version__}: the reference needs Pillow < 13 (see the docstring)", file=sys.stderr)
        return 1
    image.save(os.path.join(HERE, "input_343x999.png"), optimize=True)
    Image.fromarray(crop(image)).save(os.path.join(HERE, "expected_343x999.png"), optimize=True)
    print(f"wrote input_343x999.png and expected_343x999.png with Pillow {PIL.__version__}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
