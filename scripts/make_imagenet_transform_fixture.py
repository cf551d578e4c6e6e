#!/usr/bin/env python3
"""torchvision reference values for memo-swift's ImageNet pipeline (ImageNetTransformTests).

Run from the repository root (torchvision and Pillow; ~2 s):

    python3 scripts/make_imagenet_transform_fixture.py

It writes ``Tests/MEMOModelTests/Fixtures/imagenet_transforms.json``. The images are made from a
formula (``pattern``), which the Swift test computes too, so no image is committed:

    pixel (x, y, channel c) = (3 x^2 + 7 y + x y + 85 c + (x xor y)) mod 256

For each case it records the output size and the MD5 of the output's HWC uint8 bytes:

* ``test_view``: ``Resize(256)`` + ``CenterCrop(224)``, the reference's ``iImageNet100`` test
  pipeline (PyCIL ``utils/data.py``), and the MD5 of the normalised float32 tensor
  (``ToTensor`` + ``Normalize(ImageNet mean, std)``, CHW, little-endian bytes);
* ``resized_crop``: ``torchvision.transforms.functional.resized_crop(img, top, left, height,
  width, [224, 224])``, what ``RandomResizedCrop`` does with the box it drew, also mirrored
  (``hflip``);
* ``random_resized_crop_fallback``: ``RandomResizedCrop(224)`` on images so elongated that all
  10 attempts fail, so the central fallback box is used whatever the random numbers; the box is
  recorded from ``RandomResizedCrop.get_params``.
"""
import hashlib
import json
import os

import numpy as np
import torch
import torchvision
from PIL import Image
from torchvision import transforms
from torchvision.transforms import functional as F

MEAN = [0.485, 0.456, 0.406]
STD = [0.229, 0.224, 0.225]


def pattern(width, height):
    x = np.arange(width, dtype=np.int64)[None, :, None]
    y = np.arange(height, dtype=np.int64)[:, None, None]
    c = np.arange(3, dtype=np.int64)[None, None, :]
    v = (3 * x * x + 7 * y + x * y + 85 * c + (x ^ y)) % 256
    return Image.fromarray(v.astype(np.uint8), "RGB")


def md5(img):
    return hashlib.md5(np.asarray(img, dtype=np.uint8).tobytes()).hexdigest()


def main():
    cases = {"test_view": [], "resized_crop": [], "random_resized_crop_fallback": []}
    test = transforms.Compose([transforms.Resize(256), transforms.CenterCrop(224)])
    normalize = transforms.Compose([transforms.ToTensor(), transforms.Normalize(mean=MEAN, std=STD)])
    # Landscape, portrait, a short side already 256 (no resize; centre offset 58.5 -> 58), a long
    # side whose centre offset is 53.5 (-> 54), an upscaled small image.
    for w, h in [(500, 375), (375, 500), (341, 256), (333, 257), (200, 150)]:
        out = test(pattern(w, h))
        tensor = normalize(out)
        cases["test_view"].append({
            "width": w, "height": h, "out_width": out.size[0], "out_height": out.size[1], "md5": md5(out),
            "normalized_md5": hashlib.md5(tensor.numpy().astype("<f4").tobytes()).hexdigest(),
        })
    for w, h, top, left, bh, bw in [(500, 375, 37, 81, 201, 260), (375, 500, 0, 0, 500, 375), (300, 280, 250, 10, 30, 40)]:
        img = pattern(w, h)
        out = F.resized_crop(img, top, left, bh, bw, [224, 224])
        cases["resized_crop"].append({
            "width": w, "height": h, "top": top, "left": left, "box_height": bh, "box_width": bw,
            "md5": md5(out), "flipped_md5": md5(F.hflip(out)),
        })
    crop = transforms.RandomResizedCrop(224)
    torch.manual_seed(0)
    for w, h in [(1000, 50), (50, 1000)]:
        img = pattern(w, h)
        top, left, bh, bw = transforms.RandomResizedCrop.get_params(img, crop.scale, crop.ratio)
        cases["random_resized_crop_fallback"].append({
            "width": w, "height": h, "top": top, "left": left, "box_height": bh, "box_width": bw, "md5": md5(crop(img)),
        })
    fixture = {"torchvision": torchvision.__version__, "pillow": Image.__version__, "mean": MEAN, "std": STD, **cases}
    path = os.path.join("Tests", "MEMOModelTests", "Fixtures", "imagenet_transforms.json")
    with open(path, "w") as f:
        json.dump(fixture, f, indent=1)
        f.write("\n")
    print("wrote", path)


if __name__ == "__main__":
    main()
