"""Makes the small inputs of the batch and eval tests (run by hand; the outputs are committed).

csv/       two CSV files with `image` and `text` columns (images as base64), one bad row each
jsonl/     one JSONL file with good rows, a line that is not JSON, and a row with a bad image
images/    image files, some with a .txt caption beside them
karpathy/  a Karpathy-format split (dataset_tiny.json: 4 test images with 5 captions each, plus a
           train image that eval must ignore) and its image folder
"""
import base64, csv, io, json, os
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
COLORS = [(200, 30, 30), (30, 200, 30), (30, 30, 200), (220, 220, 40), (120, 40, 160), (10, 10, 10)]


def png(color, size=(24, 20)):
    image = Image.new("RGB", size, color)
    for x in range(0, size[0], 4):  # a stripe, so that the images are not flat
        image.putpixel((x, size[1] // 2), (255 - color[0], 255 - color[1], 255 - color[2]))
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def b64(color):
    return base64.b64encode(png(color)).decode()


def write(path, data, mode="wb"):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, mode) as f:
        f.write(data)


os.makedirs(os.path.join(HERE, "csv"), exist_ok=True)
with open(os.path.join(HERE, "csv/a.csv"), "w", newline="") as f:
    w = csv.writer(f)
    w.writerow(["id", "image", "text"])
    w.writerow([1, b64(COLORS[0]), "a red square"])
    w.writerow([2, "", "a caption, with a comma and \"quotes\""])
    w.writerow([3, "bm90IGFuIGltYWdl", ""])  # base64 of "not an image"
    w.writerow([4, b64(COLORS[1]), ""])
with open(os.path.join(HERE, "csv/b.csv"), "w", newline="") as f:
    w = csv.writer(f)
    w.writerow(["text", "image"])
    w.writerow(["a multi-line\ncaption", b64(COLORS[2])])
    w.writerow(["", ""])  # neither: a schema error
    w.writerow(["yellow", b64(COLORS[3])])

rows = [json.dumps({"image": b64(COLORS[0]), "text": "red"}), json.dumps({"text": "only a text"}), "{not json",
        json.dumps({"image": "%%%", "text": "bad base64"}), "", json.dumps({"image": b64(COLORS[4])})]
write(os.path.join(HERE, "jsonl/rows.jsonl"), "\n".join(rows) + "\n", "w")

for i, name in enumerate(["b.png", "a.png", "c.png"]):
    write(os.path.join(HERE, "images", name), png(COLORS[i]))
write(os.path.join(HERE, "images/a.txt"), "a green square\n", "w")
write(os.path.join(HERE, "images/c.txt"), "a blue square\n", "w")

images = []
for i in range(4):
    name = f"img{i}.png"
    write(os.path.join(HERE, "karpathy/images", name), png(COLORS[i], size=(30 + i, 26)))
    images.append({"filename": name, "split": "test", "sentences": [{"raw": f"caption {j} of picture number {i}"} for j in range(5)]})
images.insert(2, {"filename": "unused.png", "split": "train", "sentences": [{"raw": "never read"}]})
write(os.path.join(HERE, "karpathy/dataset_tiny.json"), json.dumps({"images": images, "dataset": "tiny"}), "w")
