#!/usr/bin/env python3
"""A small ImageNet-style folder made from Fashion-MNIST, for trying `--dataset imagenet100`.

    python3 scripts/make_fashion_imagenet_folder.py OUT [--classes 5] [--train 20] [--val 10]

Writes ``OUT/train/<wnid>/<wnid>_<i>.JPEG`` and ``OUT/val/<wnid>/ILSVRC_val_<i>.JPEG``, the layout
PyCIL's ``iImageNet100`` reads: the first ``--train`` training and ``--val`` test images of each of
the first ``--classes`` Fashion-MNIST classes (Debian's ``/usr/share/datasets/fashion-mnist``),
in colour (the gray image tinted per class), upsampled with Pillow's bicubic filter to a size
drawn between 250 and 500 pixels per side (seed 0), saved as JPEG quality 90. The class folders
get made-up wnid-like names ``n0000000<k>`` so that their sorted order is the class order.
"""
import argparse
import gzip
import os

import numpy as np
from PIL import Image

SOURCE = "/usr/share/datasets/fashion-mnist"


def idx_images(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    n, rows, cols = (int.from_bytes(data[i:i + 4], "big") for i in (4, 8, 12))
    return np.frombuffer(data, np.uint8, offset=16).reshape(n, rows, cols)


def idx_labels(path):
    with gzip.open(path, "rb") as f:
        return np.frombuffer(f.read(), np.uint8, offset=8)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("out")
    parser.add_argument("--classes", type=int, default=5)
    parser.add_argument("--train", type=int, default=20)
    parser.add_argument("--val", type=int, default=10)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    tints = rng.uniform(0.4, 1.0, size=(args.classes, 3))
    for part, prefix, count in [("train", "train", args.train), ("val", "t10k", args.val)]:
        images = idx_images(os.path.join(SOURCE, f"{prefix}-images-idx3-ubyte.gz"))
        labels = idx_labels(os.path.join(SOURCE, f"{prefix}-labels-idx1-ubyte.gz"))
        for k in range(args.classes):
            wnid = f"n{k:08d}"
            folder = os.path.join(args.out, part, wnid)
            os.makedirs(folder, exist_ok=True)
            for i, index in enumerate(np.flatnonzero(labels == k)[:count]):
                rgb = (images[index][:, :, None] * tints[k][None, None, :]).astype(np.uint8)
                w, h = (int(v) for v in rng.integers(250, 501, size=2))
                image = Image.fromarray(rgb, "RGB").resize((w, h), Image.BICUBIC)
                name = f"{wnid}_{i}.JPEG" if part == "train" else f"ILSVRC_val_{i}.JPEG"
                image.save(os.path.join(folder, name), quality=90)
    print(f"wrote {args.out}: {args.classes} classes, {args.train} train / {args.val} val images each")


if __name__ == "__main__":
    main()
