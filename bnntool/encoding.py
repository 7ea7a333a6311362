"""Input encodings: how the host turns a grey image into an LFC overlay's input bits.

The overlay only sees bits, and the host prepares them, so any deterministic encoding that
training, `verify` and the board apply identically is fair. Both encodings scale the image to
``size`` x ``size`` by exact area averaging, then compare each pixel with thresholds:

- *thermometer*: one bit per pixel and level, 1 iff the pixel is >= the level. BNN-PYNQ's own
  encoding is the one-level case (full size, level 128: a pixel is 1 iff it is >= 128).
- *dither* (ordered dithering): one bit per pixel, 1 iff the pixel is >= the threshold at its
  place in a small ``matrix`` tiled over the image (row r, column c: ``matrix[r % m][c % n]``).
  Neighbouring pixels are cut at different levels, so shading survives at full resolution.

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

KINDS = ("thermometer", "dither")


@dataclass(frozen=True)
class InputEncoding:
    """A thermometer (``levels``) or ordered-dither (``matrix``) encoding of ``source`` x
    ``source`` grey images."""

    source: int = 28
    size: int = 28
    levels: tuple[int, ...] = (128,)
    matrix: tuple[tuple[int, ...], ...] | None = None  # set: ordered dither, levels unused

    def __post_init__(self) -> None:
        if not 1 <= self.size <= self.source:
            raise UserError(f"input encoding size {self.size} must be between 1 and {self.source}")
        if self.matrix is not None:
            rows = self.matrix
            if not rows or not rows[0] or any(len(r) != len(rows[0]) for r in rows):
                raise UserError(
                    f"input encoding matrix {[list(r) for r in rows]} must be a non-empty "
                    "rectangle of thresholds, such as [[32, 160], [224, 96]]"
                )
            if any(not 1 <= v <= 255 for r in rows for v in r):
                raise UserError(
                    f"input encoding matrix {[list(r) for r in rows]} must hold thresholds "
                    "within 1..255"
                )
            if len(rows) > self.size or len(rows[0]) > self.size:
                raise UserError(
                    f"input encoding matrix is {len(rows)}x{len(rows[0])}, larger than the "
                    f"{self.size}x{self.size} image"
                )
            return
        if not self.levels or any(not 1 <= v <= 255 for v in self.levels):
            raise UserError(f"input encoding levels {list(self.levels)} must be within 1..255")
        if list(self.levels) != sorted(set(self.levels)):
            raise UserError(f"input encoding levels {list(self.levels)} must increase")

    @property
    def kind(self) -> str:
        return "thermometer" if self.matrix is None else "dither"

    @classmethod
    def upstream(cls, source: int = 28) -> InputEncoding:
        """BNN-PYNQ's: full size, 1 iff the pixel is >= 128."""
        return cls(source, source, (128,))

    @property
    def is_upstream(self) -> bool:
        """BNN-PYNQ's: full size, one threshold of 128 (a 1x1 dither matrix is the same)."""
        thresholds = self.matrix if self.matrix is not None else (self.levels,)
        return self.size == self.source and thresholds == ((128,),)

    @property
    def shape(self) -> tuple[int, int, int]:
        """The overlay's input as (rows, cols, channels): one channel per thermometer level, one
        channel for a dither."""
        return (self.size, self.size, 1 if self.matrix is not None else len(self.levels))

    @property
    def bits(self) -> int:
        rows, cols, channels = self.shape
        return rows * cols * channels

    def to_dict(self) -> dict[str, Any]:
        thresholds = (
            {"matrix": [list(r) for r in self.matrix]}
            if self.matrix is not None
            else {"levels": list(self.levels)}
        )
        return {"encoding": self.kind, "source": self.source, "size": self.size, **thresholds}

    @classmethod
    def from_dict(cls, raw: dict[str, Any], where: str = "input encoding") -> InputEncoding:
        kind = raw.get("encoding", "thermometer")
        if kind not in KINDS:
            raise UserError(
                f"{where}: unknown encoding {kind!r}; use one of {', '.join(map(repr, KINDS))}"
            )
        needs, other = ("matrix", "levels") if kind == "dither" else ("levels", "matrix")
        if other in raw:
            raise UserError(f"{where}: a {kind} encoding takes {needs}, not {other}")
        try:
            source, size = int(raw.get("source", 28)), int(raw["size"])
            if kind == "dither":
                rows = raw["matrix"]
                if not isinstance(rows, (list, tuple)) or not all(
                    isinstance(row, (list, tuple)) for row in rows
                ):
                    raise TypeError(f"got {rows!r}")
                matrix = tuple(tuple(int(v) for v in row) for row in rows)
                return cls(source, size, matrix=matrix)
            return cls(source, size, tuple(int(v) for v in raw["levels"]))
        except (KeyError, TypeError, ValueError) as e:
            what = "a list of lists of integers" if kind == "dither" else "a list of integers"
            raise UserError(f"{where}: needs size (an integer) and {needs} ({what}): {e}") from None
        except UserError as e:
            raise UserError(f"{where}: {e}") from None

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

    @cached_property
    def _tiled(self) -> np.ndarray:
        """(size x size) dither thresholds: the matrix tiled over the image, cut at its edge."""
        m = np.asarray(self.matrix, dtype=np.int64)
        reps = (-(-self.size // m.shape[0]), -(-self.size // m.shape[1]))
        return np.tile(m, reps)[: self.size, : self.size]

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
        if self.matrix is not None:
            return (sums >= self._tiled * scale).reshape(len(images), -1).astype(np.uint8)
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
