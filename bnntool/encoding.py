"""Input encodings: how the host turns a grey image into an LFC overlay's input bits.

The overlay only sees bits, and the host prepares them, so any deterministic encoding that
training, `verify` and the board apply identically is fair. A *thermometer* encoding scales the
image to ``size`` x ``size`` by exact area averaging, then emits one bit per pixel and level:
1 iff the pixel's average is >= the level. BNN-PYNQ's own encoding is the one-level case
(full size, level 128: a pixel is 1 iff it is >= 128).

The arithmetic is exact integer arithmetic (area weights scaled to integers), so every machine
gets the same bits. The encoding travels with a model: in the training recipe, in run.json, and in
the parameter folder's manifest.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from functools import cached_property
from typing import Any

import numpy as np

from bnntool.errors import UserError


@dataclass(frozen=True)
class InputEncoding:
    """A thermometer encoding of ``source`` x ``source`` grey images."""

    source: int = 28
    size: int = 28
    levels: tuple[int, ...] = (128,)

    def __post_init__(self) -> None:
        if not 1 <= self.size <= self.source:
            raise UserError(f"input encoding size {self.size} must be between 1 and {self.source}")
        if not self.levels or any(not 1 <= v <= 255 for v in self.levels):
            raise UserError(f"input encoding levels {list(self.levels)} must be within 1..255")
        if list(self.levels) != sorted(set(self.levels)):
            raise UserError(f"input encoding levels {list(self.levels)} must increase")

    @classmethod
    def upstream(cls, source: int = 28) -> InputEncoding:
        """BNN-PYNQ's: full size, 1 iff the pixel is >= 128."""
        return cls(source, source, (128,))

    @property
    def is_upstream(self) -> bool:
        return self.size == self.source and self.levels == (128,)

    @property
    def shape(self) -> tuple[int, int, int]:
        """The overlay's input as (rows, cols, channels): one channel per level."""
        return (self.size, self.size, len(self.levels))

    @property
    def bits(self) -> int:
        return self.size * self.size * len(self.levels)

    def to_dict(self) -> dict[str, Any]:
        return {
            "encoding": "thermometer",
            "source": self.source,
            "size": self.size,
            "levels": list(self.levels),
        }

    @classmethod
    def from_dict(cls, raw: dict[str, Any], where: str = "input encoding") -> InputEncoding:
        kind = raw.get("encoding", "thermometer")
        if kind != "thermometer":
            raise UserError(f'{where}: unknown encoding {kind!r}; use "thermometer"')
        try:
            return cls(
                int(raw.get("source", 28)), int(raw["size"]), tuple(int(v) for v in raw["levels"])
            )
        except (KeyError, TypeError, ValueError) as e:
            raise UserError(
                f"{where}: needs size (an integer) and levels (a list of integers): {e}"
            ) from None

    @cached_property
    def _weights(self) -> np.ndarray:
        """(size x source) integer area weights: size x the overlap of output bin i and pixel j;
        each row sums to ``source``."""
        w = np.zeros((self.size, self.source), dtype=np.int64)
        step = Fraction(self.source, self.size)
        for i in range(self.size):
            lo, hi = i * step, (i + 1) * step
            for j in range(int(lo), min(self.source, -(-hi.numerator // hi.denominator))):
                overlap = min(hi, j + 1) - max(lo, j)
                if overlap > 0:
                    w[i, j] = int(overlap * self.size)
        return w

    def encode(self, images: np.ndarray) -> np.ndarray:
        """uint8 images (N x source x source) -> input bits (N x bits), uint8, in (row, col,
        level) order."""
        if images.ndim != 3 or images.shape[1:] != (self.source, self.source):
            raise UserError(
                f"the input encoding takes {self.source}x{self.source} grey images, got "
                f"{'x'.join(map(str, images.shape[1:]))}"
            )
        if self.size == self.source:
            sums, scale = images.astype(np.int64), 1
        else:
            # Integer weights and pixels: every product and sum is an integer below 2^53, so the
            # float64 matrix products are exact (and fast).
            w = self._weights.astype(np.float64)
            sums = (w @ images.astype(np.float64)) @ w.T
            scale = self.source * self.source  # sums = avg * source^2
        levels = np.asarray(self.levels, dtype=np.int64) * scale
        return (sums[..., None] >= levels).reshape(len(images), -1).astype(np.uint8)


def encoded_spec(spec: Any, encoding: InputEncoding | None) -> Any:
    """The overlay spec whose first layer takes ``encoding``'s bits (the same hardware: the
    padded input width does not change). Conv overlays, and no encoding, return ``spec``."""
    from bnntool.overlay import spec_from_dict

    if encoding is None or spec.network != "lfc" or encoding.is_upstream:
        return spec
    width = spec.layers[0].mw_padded
    if encoding.bits > width:
        raise UserError(
            f"the input encoding gives {encoding.bits} bits, more than overlay {spec.name}'s "
            f"{width}-bit input"
        )
    raw = spec.to_json()
    rows, cols, channels = encoding.shape
    raw["input"] = {**raw["input"], "rows": rows, "cols": cols, "channels": channels, "bits": width}
    return spec_from_dict(raw, f"{spec.source} with {encoding.bits}-bit input encoding")
