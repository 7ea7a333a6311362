"""The board's input preprocessing (spec 3.3): what an overlay receives for an image.

LFC overlays take one bit per pixel, 1 iff the pixel is >= 128 (padding bits are 0). CNV overlays
take each colour byte c as an 8-bit fixed-point code k/128 with k = c - 128 for c <= 127,
c - 127 for 128 <= c <= 254 and 127 for c = 255 (the host's round-half-up, saturating conversion
of -1 + 2c/255), pixel-major (HWC).
"""

from __future__ import annotations

import numpy as np

from bnntool.errors import UserError
from bnntool.overlay import OverlaySpec

_CODES = np.array(
    [c - 128 if c <= 127 else (c - 127 if c <= 254 else 127) for c in range(256)], dtype=np.int16
)


def cnv_codes(images: np.ndarray) -> np.ndarray:
    """uint8 colour bytes -> the overlay's 8-bit input codes k (value k/128)."""
    return _CODES[images]


def lfc_bits(images: np.ndarray) -> np.ndarray:
    """uint8 grey pixels -> the overlay's input bits (1 iff pixel >= 128), one row per image."""
    return (images.reshape(len(images), -1) >= 128).astype(np.uint8)


def check_images(spec: OverlaySpec, images: np.ndarray, what: str = "images") -> None:
    """Refuse images of another size or colour than the overlay takes, with a one-line error."""
    want = spec.image_shape
    got = tuple(images.shape[1:])
    if images.dtype != np.uint8:
        raise UserError(f"{what} must be uint8 pixels, got {images.dtype}")
    if got != want:
        raise UserError(
            f"{what} are {_describe(got)} but overlay {spec.name} takes {_describe(want)}; "
            "convert them explicitly (bnntool verify --fit)"
        )


def _describe(shape: tuple[int, ...]) -> str:
    if len(shape) == 2:
        return f"{shape[0]}x{shape[1]} grey"
    if len(shape) == 3 and shape[2] == 3:
        return f"{shape[0]}x{shape[1]} RGB"
    return "x".join(map(str, shape))


def fit_images(spec: OverlaySpec, images: np.ndarray) -> np.ndarray:
    """Resize and recolour images to the overlay's input (the explicit conversion of --fit)."""
    from PIL import Image

    rows, cols = spec.input_rows, spec.input_cols
    mode = "L" if spec.input_channels == 1 else "RGB"
    out = np.empty((len(images), *spec.image_shape), dtype=np.uint8)
    for i, image in enumerate(images):
        im = Image.fromarray(image)
        if im.size != (cols, rows):
            im = im.resize((cols, rows), Image.Resampling.BILINEAR)
        out[i] = np.asarray(im.convert(mode))
    return out
