"""Photos prepared as BNN-PYNQ's board classifier prepares them (spec 6.4), so that a picture
gets the scores the upstream notebooks print.

``CnvClassifier.image_to_cifar``: thumbnail the image into 32x32 (the Pillow of the PYNQ images:
truncating size arithmetic, JPEG draft decoding if the file was not decoded yet, one Lanczos
resize), paste it at the centre of a white 32x32 canvas, and send its R, G and B planes.

Whether the JPEG was decoded before matters: draft decoding at 1/8 scale gives other pixels. The
notebooks show a picture before classifying it, which decodes it (the deer); a picture first
thumbnailed on its own (the airplane, the bird) is drafted. Call ``image.load()`` to decode.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

SIZE = 32


def thumbnail(image: Image.Image, size: tuple[int, int]) -> Image.Image:
    """``Image.thumbnail`` as the Pillow of the PYNQ images did it (modern Pillow differs)."""
    width, height = image.size
    if width > size[0]:
        height = int(max(height * size[0] / width, 1))
        width = int(size[0])
    if height > size[1]:
        width = int(max(width * size[1] / height, 1))
        height = int(size[1])
    if (width, height) == image.size:
        return image
    # JPEG draft decoding (at 1/2, 1/4 or 1/8 scale); Pillow ignores it for an image that is
    # already decoded, and for other formats.
    image.draft(None, (width, height))
    return image.resize((width, height), Image.Resampling.LANCZOS, reducing_gap=None)


def board_image(image: Image.Image) -> np.ndarray:
    """A photo as the CNV overlay receives it from the board's classifier: 32x32x3 uint8."""
    small = thumbnail(image, (SIZE, SIZE))
    canvas = Image.new("RGBA", (SIZE, SIZE), (255, 255, 255, 0))
    canvas.paste(small, (int((SIZE - small.width) / 2), int((SIZE - small.height) / 2)))
    return np.asarray(canvas)[:, :, :3].copy()


def open_image(path: str) -> Image.Image:
    """Open a picture lazily (not decoded), as the board's classifier receives it."""
    return Image.open(path)
