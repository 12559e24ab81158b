#!/usr/bin/env python3
"""Makes the image fixtures of ClipImageTests. Run by hand, not in CI (needs transformers, Pillow,
scikit-image, numpy):  python3 Tests/Fixtures/images/make_fixtures.py

    pip install "pillow<13" transformers scikit-image numpy

Pillow 12 or earlier: Pillow 13 changed the order of bicubic's two passes for some shapes (see
pillow12/make_fixture.py), and clipq follows Pillow 12, as the hosted endpoint does.

For each input in inputs/ it writes expected/<name>.png: the 336x336 uint8 image that
CLIPImageProcessorPil (the Pillow path) produces before rescale+normalize, recovered from its float
output and checked to give that output back exactly. normalize.json holds, per channel, the float32
value CLIPImageProcessorPil gives each byte. Alpha: transformers >= 5 composites transparent images
onto white (and treat a palette's transparent index, or a tRNS color key, as alpha); the reference
here is Pillow's convert("RGB") alone (alpha dropped, color keys ignored), what transformers 4.x (the
hosted endpoint) does, so images are converted before the processor sees them.
"""
import io, json, os, struct, sys, zlib
import numpy as np
import PIL
from PIL import Image
from skimage import data
from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil

HERE = os.path.dirname(os.path.abspath(__file__))
INPUTS, EXPECTED = os.path.join(HERE, "inputs"), os.path.join(HERE, "expected")
CONFIG = json.load(open(os.path.join(HERE, "preprocessor_config.json")))
processor = CLIPImageProcessorPil(**CONFIG)
MEAN = np.array(CONFIG["image_mean"], dtype=np.float32)
STD = np.array(CONFIG["image_std"], dtype=np.float32)
rng = np.random.default_rng(336)


def reference(image):
    rgb = image.convert("RGB")
    # convert() carries a palette's transparent index over as an RGB color key, which would make
    # transformers >= 5 composite those pixels onto white: drop it, as 4.x never looked at it.
    rgb.info.pop("transparency", None)
    return processor(images=rgb, return_tensors="np")["pixel_values"][0]  # [3, 336, 336] float32


def table():
    """The float32 HF gives each byte, per channel: a 336x336 image holding every byte value."""
    values = np.arange(336 * 336, dtype=np.int64) % 256
    rgb = np.stack([values, (values + 85) % 256, (values + 170) % 256], -1).reshape(336, 336, 3).astype(np.uint8)
    out = reference(Image.fromarray(rgb))  # 336x336: Pillow's resize is an identity copy
    t = np.zeros((3, 256), dtype=np.float32)
    for c in range(3):
        t[c, rgb[..., c].reshape(-1)] = out[c].reshape(-1)
    assert np.array_equal(t[:, rgb[..., 0].reshape(-1)][0], out[0].reshape(-1))
    return t


TABLE = table()


def to_bytes(tensor):
    """Inverts the normalization exactly (asserted) to the uint8 crop."""
    guess = np.clip(np.rint((tensor * STD[:, None, None] + MEAN[:, None, None]) * 255), 0, 255).astype(np.uint8)
    for c in range(3):
        assert np.array_equal(TABLE[c][guess[c]], tensor[c]), "normalization is not a byte table"
    return guess.transpose(1, 2, 0)


def png_raw(path, width, height, color_type, depth, rows, palette=None, trns=None, interlace=False):
    """A minimal PNG writer for what Pillow cannot write (16-bit RGB(A)/LA, 2/4-bit gray, Adam7).
    rows: [height][samples] of ints."""
    channels = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}[color_type]
    def pack(samples):
        if depth == 16:
            return b"".join(struct.pack(">H", s % 65536) for s in samples)
        if depth == 8:
            return bytes(samples)
        bits, acc, n, out = depth, 0, 0, bytearray()
        for s in samples:
            acc, n = (acc << bits) | s, n + bits
            if n == 8:
                out.append(acc); acc, n = 0, 0
        if n:
            out.append(acc << (8 - n))
        return bytes(out)
    px = [[row[i * channels:(i + 1) * channels] for i in range(width)] for row in rows]
    passes = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)] \
        if interlace else [(0, 0, 1, 1)]
    raw = bytearray()
    for x0, y0, dx, dy in passes:
        for y in range(y0, height, dy):
            line = [s for x in range(x0, width, dx) for s in px[y][x]]
            if line:
                raw += b"\x00" + pack(line)
    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    out = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, depth, color_type, 0, 0, int(interlace)))
    if palette is not None:
        out += chunk(b"PLTE", bytes(palette))
    if trns is not None:
        out += chunk(b"tRNS", bytes(trns))
    out += chunk(b"gAMA", struct.pack(">I", 45455)) + chunk(b"IDAT", zlib.compress(bytes(raw), 9)) + chunk(b"IEND", b"")
    open(path, "wb").write(out)


def ycck_jpeg(path, cmyk):
    """Pillow writes CMYK JPEGs as Adobe CMYK; TurboJPEG writes them as YCCK (libjpeg-turbo, ctypes)."""
    import ctypes
    tj = ctypes.CDLL("libturbojpeg.so.0")
    tj.tjInitCompress.restype = ctypes.c_void_p
    handle = tj.tjInitCompress()
    pixels = np.ascontiguousarray(cmyk, dtype=np.uint8)
    out, size = ctypes.POINTER(ctypes.c_ubyte)(), ctypes.c_ulong(0)
    tjpf_cmyk, tjsamp_420 = 11, 2
    assert tj.tjCompress2(ctypes.c_void_p(handle), pixels.ctypes.data_as(ctypes.c_void_p), pixels.shape[1], 0, pixels.shape[0],
                          tjpf_cmyk, ctypes.byref(out), ctypes.byref(size), tjsamp_420, 85, 0) == 0
    open(path, "wb").write(ctypes.string_at(out, size.value))
    tj.tjFree(out)
    tj.tjDestroy(ctypes.c_void_p(handle))


def synthetic(width, height):
    """Smooth gradients and hard edges: compresses well, exercises every filter tap."""
    y, x = np.mgrid[0:height, 0:width]
    r = (x * 255 // max(1, width - 1))
    g = (y * 255 // max(1, height - 1))
    b = ((x // 7 + y // 5) % 2) * 200 + 25
    return np.stack([r, g, b], -1).astype(np.uint8)


def main():
    if int(PIL.__version__.split(".")[0]) >= 13:
        sys.exit(f"Pillow {PIL.__version__}: the references need Pillow < 13 (pip install 'pillow<13')")
    os.makedirs(INPUTS, exist_ok=True)
    os.makedirs(EXPECTED, exist_ok=True)
    photos = {"astronaut": data.astronaut(), "chelsea": data.chelsea(), "coffee": data.coffee(), "rocket": data.rocket()}
    camera = data.camera()
    small = {k: Image.fromarray(v).resize((v.shape[1] * 3 // 4, v.shape[0] * 3 // 4), Image.LANCZOS) for k, v in photos.items()}
    files = {}

    def save(name, image, **kw):
        path = os.path.join(INPUTS, name)
        image.save(path, **kw)
        files[name] = path

    save("astronaut.jpg", Image.fromarray(photos["astronaut"]), quality=85)
    save("chelsea_progressive.jpg", Image.fromarray(photos["chelsea"]), quality=80, progressive=True)
    save("camera_gray.jpg", Image.fromarray(camera).resize((384, 384)), quality=80)
    save("coffee_cmyk.jpg", small["coffee"].convert("CMYK"), quality=85)
    save("rocket_420.jpg", small["rocket"], quality=75, subsampling=2)
    ycck_jpeg(os.path.join(INPUTS, "chelsea_ycck.jpg"), np.asarray(small["chelsea"].convert("CMYK")))
    files["chelsea_ycck.jpg"] = os.path.join(INPUTS, "chelsea_ycck.jpg")
    save("coffee.png", small["coffee"])
    rgba = np.dstack([np.asarray(small["chelsea"]), synthetic(small["chelsea"].width, small["chelsea"].height)[..., 0]])
    save("chelsea_rgba.png", Image.fromarray(rgba, "RGBA"))
    save("camera_la.png", Image.fromarray(np.dstack([camera[::2, ::2], camera[::2, ::-2]]), "LA"))
    save("rocket_palette.png", small["rocket"].quantize(64))
    pal = Image.fromarray(synthetic(90, 60)).quantize(16)
    save("synthetic_palette_trns.png", pal, transparency=3)
    save("camera_1bit.png", Image.fromarray(camera[::3, ::3]).convert("1"))
    gray16 = (synthetic(70, 50)[..., 0].astype(np.uint16) * 3)  # 0..765: Pillow clamps I;16 at 255
    save("gray16.png", Image.fromarray(gray16.astype(np.uint16)))
    s = synthetic(50, 40).astype(np.int64)
    png_raw(os.path.join(INPUTS, "rgb16.png"), 50, 40, 2, 16, [list((s[y] * 257 + y * 13).reshape(-1)) for y in range(40)])
    a = synthetic(45, 31).astype(np.int64)
    png_raw(os.path.join(INPUTS, "rgba16_interlaced.png"), 45, 31, 6, 16,
            [list(np.concatenate([a[y] * 257 + 99, (a[y, :, :1] * 200)], -1).reshape(-1)) for y in range(31)], interlace=True)
    png_raw(os.path.join(INPUTS, "la16.png"), 30, 20, 4, 16, [[v for x in range(30) for v in (x * 2000 + y * 50, 65535 - x)] for y in range(20)])
    png_raw(os.path.join(INPUTS, "gray2.png"), 23, 17, 0, 2, [[(x + y) % 4 for x in range(23)] for y in range(17)])
    png_raw(os.path.join(INPUTS, "gray4_trns.png"), 19, 29, 0, 4, [[(x * y) % 16 for x in range(19)] for y in range(29)], trns=[0, 5])
    png_raw(os.path.join(INPUTS, "palette4_interlaced.png"), 33, 21, 3, 4, [[(x // 3 + y) % 12 for x in range(33)] for y in range(21)],
            palette=[v for i in range(12) for v in (i * 20, 255 - i * 20, (i * 73) % 256)], interlace=True)
    for name in ["rgb16.png", "rgba16_interlaced.png", "la16.png", "gray2.png", "gray4_trns.png", "palette4_interlaced.png"]:
        files[name] = os.path.join(INPUTS, name)
    save("astronaut_lossy.webp", Image.fromarray(photos["astronaut"]).resize((400, 400)), quality=80)
    save("rocket_lossless.webp", small["rocket"].resize((240, 160)), lossless=True)
    save("chelsea_alpha.webp", Image.fromarray(rgba, "RGBA").resize((200, 133)), quality=85)
    save("tiny_1x1.png", Image.fromarray(np.array([[[200, 30, 90]]], dtype=np.uint8)))
    save("tiny_2x3.jpg", Image.fromarray(synthetic(2, 3)), quality=95)
    save("tiny_3x2.png", Image.fromarray(synthetic(3, 2)))
    save("wide_1000x20.png", Image.fromarray(synthetic(1000, 20)))
    save("tall_20x1000.jpg", Image.fromarray(synthetic(20, 1000)), quality=90)
    save("line_1x500.png", Image.fromarray(synthetic(1, 500)))
    save("odd_335x337.png", Image.fromarray(synthetic(335, 337)))
    save("exact_336x336.png", Image.fromarray(synthetic(336, 336)))
    save("keepwidth_336x700.png", Image.fromarray(synthetic(336, 700)))
    save("odd_337x501.jpg", Image.fromarray(synthetic(337, 501)), quality=90)
    big = Image.fromarray(photos["coffee"]).resize((4000, 3000), Image.BICUBIC)
    save("coffee_12mp.jpg", big, quality=40)

    for name in sorted(files):
        tensor = reference(Image.open(files[name]))
        Image.fromarray(to_bytes(tensor)).save(os.path.join(EXPECTED, os.path.splitext(name)[0] + ".png"))
    json.dump({"mean": CONFIG["image_mean"], "std": CONFIG["image_std"],
               "table": [[float(v) for v in TABLE[c]] for c in range(3)]}, open(os.path.join(HERE, "normalize.json"), "w"))
    total = sum(os.path.getsize(os.path.join(d, f)) for d in (INPUTS, EXPECTED) for f in os.listdir(d))
    print(f"{len(files)} fixtures, {total / 1e6:.2f} MB")


if __name__ == "__main__":
    main()
