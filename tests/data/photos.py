"""Folders of "photos" as a user brings them, made of real Fashion-MNIST images: one sub-folder
per class (names with spaces and non-ASCII letters), PNG and JPEG files, some of them 64x64 RGB,
and one file that is not an image at all."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import numpy as np
from PIL import Image

from bnntool.data.idx import read_idx_images, read_idx_labels

# Fashion-MNIST's classes, as folder names (one in German: "Überzieher" is a coat)
CLASSES = (
    "T-shirt top",
    "Trouser",
    "Pullover",
    "Dress",
    "Überzieher",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)
BROKEN = "Bag/broken.jpg"


@cache
def fashion(shared: Path, split: str = "train") -> tuple[np.ndarray, np.ndarray]:
    folder = shared / "datasets" / "fashion-mnist"
    prefix = "train" if split == "train" else "t10k"
    images = read_idx_images(folder / f"{prefix}-images-idx3-ubyte.gz")
    labels = read_idx_labels(folder / f"{prefix}-labels-idx1-ubyte.gz", 10)
    return images, labels


def photo_folder(
    shared: Path,
    root: Path,
    per_class: int = 50,
    *,
    classes: int = 10,
    broken: bool = True,
    skip: int = 0,
) -> Path:
    """``root``/<class name>/<files>: ``per_class`` images of each of the first ``classes``
    classes (after skipping ``skip`` of each): every third a 64x64 RGB JPEG, every fifth a
    64x64 RGB PNG, the rest the 28x28 grey PNGs they are; with ``broken``, one file in Bag that
    no image reader opens."""
    images, labels = fashion(shared)
    for label in range(classes):
        folder = root / CLASSES[label]
        folder.mkdir(parents=True, exist_ok=True)
        chosen = np.flatnonzero(labels == label)[skip : skip + per_class]
        for n, i in enumerate(chosen):
            picture = Image.fromarray(images[i])
            if n % 3 == 0:
                big = picture.resize((64, 64), Image.Resampling.BICUBIC).convert("RGB")
                big.save(folder / f"{i:05d}.jpg", quality=92)
            elif n % 5 == 0:
                big = picture.resize((64, 64), Image.Resampling.NEAREST).convert("RGB")
                big.save(folder / f"{i:05d}.png")
            else:
                picture.save(folder / f"{i:05d}.png")
    if broken and classes > 8:
        (root / BROKEN).write_bytes(b"\xff\xd8\xff\xe0 this is not a JPEG after all")
    return root
