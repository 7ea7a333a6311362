"""The board's input preprocessing (spec 3.3): what an overlay receives for an image.

LFC overlays take bits: BNN-PYNQ's host sends one bit per pixel, 1 iff the pixel is >= 128
(padding bits are 0); a params folder may name another input encoding (bnntool.encoding), which
the host applies instead. CNV overlays take each colour byte c as an 8-bit fixed-point code k/128
with k = c - 128 for c <= 127, c - 127 for 128 <= c <= 254 and 127 for c = 255 (the host's
round-half-up, saturating conversion of -1 + 2c/255), pixel-major (HWC).
"""

from __future__ import annotations

import numpy as np

from bnntool.encoding import InputEncoding
from bnntool.errors import UserError
from bnntool.overlay import OverlaySpec
from bnntool.preparation import Preparation, prepare_array

_CODES = np.array(
    [c - 128 if c <= 127 else (c - 127 if c <= 254 else 127) for c in range(256)], dtype=np.int16
)


def cnv_codes(images: np.ndarray) -> np.ndarray:
    """uint8 colour bytes -> the overlay's 8-bit input codes k (value k/128)."""
    return _CODES[images]


class HostInput:
    """How the host prepares images for an overlay (and how training prepares them too)."""

    def __init__(self, spec: OverlaySpec, encoding: InputEncoding | None = None) -> None:
        self.spec = spec
        self.encoding = None
        if spec.network == "lfc":
            self.encoding = encoding or InputEncoding.upstream(spec.input_rows)
            if self.encoding.bits != spec.layers[0].mw:
                raise UserError(
                    f"input encoding of {self.encoding.bits} bits does not fit overlay "
                    f"{spec.name}'s {spec.layers[0].mw} inputs"
                )

    @property
    def image_shape(self) -> tuple[int, ...]:
        """The images the host takes: grey source images for LFC, RGB for CNV."""
        if self.encoding is not None:
            return (self.encoding.source, self.encoding.source)
        return self.spec.image_shape

    def check(
        self,
        images: np.ndarray,
        what: str = "images",
        hint: str = "convert them explicitly (bnntool verify --fit)",
    ) -> None:
        """Refuse images of another size or colour than the overlay takes (one-line error
        ending in ``hint``)."""
        want = self.image_shape
        got = tuple(images.shape[1:])
        if images.dtype != np.uint8:
            raise UserError(f"{what} must be uint8 pixels, got {images.dtype}")
        if got != want:
            raise UserError(
                f"{what} are {_describe(got)} but overlay {self.spec.name} takes "
                f"{_describe(want)}; {hint}"
            )

    def prepare(self, images: np.ndarray) -> np.ndarray:
        """LFC: the input bits (N x bits, uint8); CNV: the 8-bit codes (N x H x W x C, int16)."""
        self.check(images)
        if self.encoding is not None:
            return self.encoding.encode(images)
        codes = cnv_codes(images)
        return codes[..., None] if codes.ndim == 3 else codes  # grey: one channel


def _describe(shape: tuple[int, ...]) -> str:
    if len(shape) == 2:
        return f"{shape[0]}x{shape[1]} grey"
    if len(shape) == 3 and shape[2] == 3:
        return f"{shape[0]}x{shape[1]} RGB"
    return "x".join(map(str, shape))


def fit_images(
    host: HostInput, images: np.ndarray, preparation: Preparation | None = None
) -> np.ndarray:
    """Images resized and recoloured to what the host takes (the explicit conversion of --fit),
    by ``preparation`` (bnntool.preparation; by default the board's)."""
    shape = host.image_shape
    out = np.empty((len(images), *shape), dtype=np.uint8)
    for i, image in enumerate(images):
        out[i] = prepare_array(image, shape, preparation)
    return out
