"""Image preparation: how a picture of any size and colour becomes the image an overlay's host
takes (28x28 grey for LFC, 32x32 RGB for CNV), before the input encoding.

One :class:`Preparation` travels with a model like the input encoding: in the recipe's
``[input]`` table, in run.json and in the params folder's manifest. :func:`prepare_picture` is
the one function that applies it, in training (image folders), ``verify`` and ``evaluate``
(image folders, ``--fit``) and ``infer`` (the pictures it sends to the board), so a picture the
board classifies went through the preparation the network was trained with.

``prepare``:

- ``board`` (the default, and what no recorded preparation means): what BNN-PYNQ's board
  classifier does. CNV: thumbnail into 32x32 and centre it on white (spec 6.4,
  :func:`bnntool.sim.images.board_image`); LFC: greyscale, scaled to the input size (bilinear).
- ``fit``: scale (up or down, Lanczos) to fit inside the input, keep the aspect ratio, centre on
  a ``background`` canvas.
- ``crop``: scale (Lanczos) to cover the input, keep the aspect ratio, cut the centre out.
- ``pad``: no scaling: centre on a ``background`` canvas, cutting what is larger.
- ``stretch``: scale to the input size (bilinear), aspect ratio not kept.

``orientation``: ``stored`` (the default: pixels as stored in the file) or ``exif`` (turn the
picture as its EXIF orientation tag says first, as photo viewers show a phone photo).

``colour``: ``auto`` (the overlay's: grey for LFC, RGB for CNV), ``grey`` (CNV: the grey picture
on all three channels) or ``rgb`` (CNV only). A picture already of the input's size and colour
comes out unchanged under every preparation but ``board`` on CNV with a grey picture (which
turns it into RGB first, as the board does).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from bnntool.errors import UserError

if TYPE_CHECKING:
    from PIL import Image

PREPARE = ("board", "fit", "crop", "pad", "stretch")
COLOURS = ("auto", "grey", "rgb")
ORIENTATIONS = ("stored", "exif")
KEYS = ("prepare", "colour", "background", "orientation")


@dataclass(frozen=True)
class Preparation:
    """How pictures become the overlay's input images; see the module docstring."""

    prepare: str = "board"
    colour: str = "auto"
    background: int | None = None  # fit, pad: the canvas's grey level (default 0, black)
    orientation: str = "stored"  # or "exif": apply the picture's EXIF orientation tag first

    def __post_init__(self) -> None:
        if self.orientation not in ORIENTATIONS:
            raise UserError(
                f"orientation = {self.orientation!r}; use one of {', '.join(ORIENTATIONS)}"
            )
        if self.prepare not in PREPARE:
            raise UserError(f"prepare = {self.prepare!r}; use one of {', '.join(PREPARE)}")
        if self.colour not in COLOURS:
            raise UserError(f"colour = {self.colour!r}; use one of {', '.join(COLOURS)}")
        if self.background is not None:
            if self.prepare not in ("fit", "pad"):
                raise UserError(
                    f"background = {self.background} is for prepare = fit or pad, not "
                    f"{self.prepare!r}"
                )
            if isinstance(self.background, bool) or not 0 <= self.background <= 255:
                raise UserError(f"background = {self.background!r}; give a grey level 0..255")

    @property
    def is_default(self) -> bool:
        return self == Preparation()

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"prepare": self.prepare, "colour": self.colour}
        if self.background is not None:
            out["background"] = self.background
        if self.orientation != "stored":  # older manifests and runs read back unchanged
            out["orientation"] = self.orientation
        return out

    @classmethod
    def from_dict(cls, raw: dict[str, Any], where: str = "image preparation") -> Preparation:
        unknown = sorted(set(raw) - set(KEYS))
        if unknown:
            raise UserError(f"{where}: unknown key {unknown[0]}; known: {', '.join(KEYS)}")
        for key in ("prepare", "colour", "orientation"):
            if key in raw and not isinstance(raw[key], str):
                raise UserError(f"{where}: {key} = {raw[key]!r} is not a string")
        background = raw.get("background")
        if background is not None and (
            isinstance(background, bool) or not isinstance(background, int)
        ):
            raise UserError(f"{where}: background = {background!r} is not an integer")
        try:
            return cls(
                raw.get("prepare", "board"),
                raw.get("colour", "auto"),
                background,
                raw.get("orientation", "stored"),
            )
        except UserError as e:
            raise UserError(f"{where}: {e}") from None

    @classmethod
    def of_manifest(cls, manifest: dict[str, Any] | None, where: str) -> Preparation:
        """The preparation a run.json or params manifest records; none recorded: the board's."""
        raw = (manifest or {}).get("image_preparation")
        return cls.from_dict(raw, where) if raw else cls()

    def check(self, shape: tuple[int, ...], overlay: str = "the overlay") -> None:
        """Refuse a colour the overlay's input cannot take (one line)."""
        if self.colour == "rgb" and len(shape) == 2:
            raise UserError(
                f'colour = "rgb", but {overlay} takes grey images; use "grey" or leave it out'
            )

    def describe(self) -> str:
        what = {
            "board": "as the board's classifier does",
            "fit": "scaled to fit",
            "crop": "scaled to cover and cropped",
            "pad": "padded or cut, not scaled",
            "stretch": "stretched",
        }[self.prepare]
        colour = "" if self.colour == "auto" else f", {self.colour}"
        background = "" if self.background is None else f", background {self.background}"
        turned = ", EXIF orientation applied" if self.orientation == "exif" else ""
        return f"{self.prepare} ({what}{colour}{background}{turned})"


def prepare_picture(
    picture: Image.Image, shape: tuple[int, ...], preparation: Preparation | None = None
) -> np.ndarray:
    """A picture (PIL image, decoded or not) as the uint8 image of ``shape`` that the overlay's
    host takes: (rows, cols) grey or (rows, cols, 3) RGB."""
    from PIL import Image

    prep = preparation or Preparation()
    prep.check(shape)
    if prep.orientation == "exif":
        from PIL import ImageOps

        picture = ImageOps.exif_transpose(picture)
    rows, cols = shape[:2]
    grey_input = len(shape) == 2
    mode = "L" if grey_input or prep.colour == "grey" else "RGB"
    if prep.prepare == "board" and not grey_input:
        from bnntool.sim.images import board_image

        if mode == "L":  # grey on all three channels, then the board's own steps
            picture = picture.convert("L")
        return board_image(picture.convert("RGB"))
    image = picture.convert(mode)
    if prep.prepare in ("board", "stretch"):
        if image.size != (cols, rows):
            image = image.resize((cols, rows), Image.Resampling.BILINEAR)
    elif prep.prepare in ("fit", "crop"):
        if image.size != (cols, rows):
            image = _scaled(image, rows, cols, cover=prep.prepare == "crop")
            if prep.prepare == "fit":
                image = _centred(image, rows, cols, prep.background or 0)
            else:
                left, top = (image.width - cols) // 2, (image.height - rows) // 2
                image = image.crop((left, top, left + cols, top + rows))
    else:  # pad
        image = _centred(image, rows, cols, prep.background or 0)
    out = np.asarray(image, dtype=np.uint8)
    if mode == "L" and not grey_input:
        out = np.repeat(out[:, :, None], 3, axis=2)
    return np.ascontiguousarray(out)


def prepare_array(
    image: np.ndarray, shape: tuple[int, ...], preparation: Preparation | None = None
) -> np.ndarray:
    """:func:`prepare_picture` of a uint8 array (H x W grey or H x W x 3 RGB)."""
    from PIL import Image

    return prepare_picture(Image.fromarray(np.ascontiguousarray(image)), shape, preparation)


def _scaled(image: Image.Image, rows: int, cols: int, *, cover: bool) -> Image.Image:
    from PIL import Image

    pick = max if cover else min
    scale = pick(cols / image.width, rows / image.height)
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    if cover:  # rounding must not leave the canvas short of the input
        size = (max(size[0], cols), max(size[1], rows))
    else:
        size = (min(size[0], cols), min(size[1], rows))
    return image.resize(size, Image.Resampling.LANCZOS)


def _centred(image: Image.Image, rows: int, cols: int, background: int) -> Image.Image:
    from PIL import Image

    if image.size == (cols, rows):
        return image
    fill = background if image.mode == "L" else (background,) * 3
    canvas = Image.new(image.mode, (cols, rows), fill)
    canvas.paste(image, ((cols - image.width) // 2, (rows - image.height) // 2))
    return canvas
