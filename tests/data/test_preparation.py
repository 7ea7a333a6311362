"""Image preparation (bnntool.preparation): the one function training, verify and infer use."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bnntool.errors import UserError
from bnntool.preparation import Preparation, prepare_array, prepare_picture
from bnntool.sim.images import board_image

GREY = (28, 28)
RGB = (32, 32, 3)


def _picture(width: int, height: int, mode: str = "RGB", seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed)
    shape = (height, width) if mode == "L" else (height, width, 3)
    return Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8), mode)


@pytest.mark.parametrize("prepare", ["board", "fit", "crop", "pad", "stretch"])
def test_images_that_fit_come_out_unchanged(prepare: str) -> None:
    grey = _picture(28, 28, "L")
    assert np.array_equal(prepare_picture(grey, GREY, Preparation(prepare)), np.asarray(grey))
    rgb = _picture(32, 32)
    assert np.array_equal(prepare_picture(rgb, RGB, Preparation(prepare)), np.asarray(rgb))


def test_board_is_what_the_board_did() -> None:
    photo = _picture(64, 48)
    # CNV: image_to_cifar (spec 6.4): thumbnail into 32x32, centred on white
    cnv = prepare_picture(photo, RGB)
    assert np.array_equal(cnv, board_image(photo.convert("RGB")))
    assert cnv.shape == RGB and (cnv[:4] == 255).all() and (cnv[-4:] == 255).all()
    # LFC: grey, scaled to the input (bilinear), as infer did before preparations existed
    lfc = prepare_picture(photo, GREY)
    expected = np.asarray(photo.convert("L").resize((28, 28), Image.Resampling.BILINEAR))
    assert np.array_equal(lfc, expected)
    # nothing recorded means the board's
    assert Preparation.of_manifest({}, "m") == Preparation() == Preparation.of_manifest(None, "m")


def test_fit_crop_pad_stretch() -> None:
    wide = Image.new("L", (56, 28), 200)  # twice as wide as high
    fit = prepare_picture(wide, GREY, Preparation("fit", background=10))
    assert (fit[7:21] == 200).all() and (fit[:7] == 10).all() and (fit[21:] == 10).all()
    assert (prepare_picture(wide, GREY, Preparation("crop")) == 200).all()
    assert (prepare_picture(wide, GREY, Preparation("stretch")) == 200).all()
    small = Image.new("L", (20, 20), 99)
    pad = prepare_picture(small, GREY, Preparation("pad"))
    assert (pad[4:24, 4:24] == 99).all() and pad.sum() == 99 * 400
    big = _picture(40, 40, "L")
    assert np.array_equal(
        prepare_picture(big, GREY, Preparation("pad")), np.asarray(big)[6:34, 6:34]
    )


def test_colour() -> None:
    photo = _picture(32, 32)
    grey = prepare_picture(photo, RGB, Preparation("fit", colour="grey"))
    assert grey.shape == RGB and (grey[..., 0] == grey[..., 2]).all()
    assert np.array_equal(grey[..., 0], np.asarray(photo.convert("L")))
    board_grey = prepare_picture(photo, RGB, Preparation(colour="grey"))
    assert (board_grey[..., 0] == board_grey[..., 1]).all()
    # a grey picture for a CNV overlay: grey on all three channels
    assert prepare_array(np.full((32, 32), 7, np.uint8), RGB).tolist() == np.full(RGB, 7).tolist()
    with pytest.raises(UserError, match='colour = "rgb", but overlay lfcW1A1 takes grey images'):
        Preparation(colour="rgb").check(GREY, "overlay lfcW1A1")


def test_one_line_errors_and_the_record() -> None:
    with pytest.raises(UserError, match="prepare = 'zoom'; use one of board, fit"):
        Preparation("zoom")
    with pytest.raises(UserError, match="background = 3 is for prepare = fit or pad"):
        Preparation("crop", background=3)
    with pytest.raises(UserError, match="m.json: unknown key size; known: prepare"):
        Preparation.from_dict({"size": 3}, "m.json")
    p = Preparation("fit", "grey", 255)
    assert Preparation.from_dict(p.to_dict()) == p
    assert p.to_dict() == {"prepare": "fit", "colour": "grey", "background": 255}


def test_jpeg_decoded_first(tmp_path: Path) -> None:
    """A JPEG decoded before it is prepared (as training, verify and infer all do) gets other
    pixels than one drafted while thumbnailing: the preparation decodes first, always."""
    path = tmp_path / "p.jpg"
    _picture(400, 300, seed=3).save(path, quality=90)
    with Image.open(path) as a:
        a.load()
        decoded = prepare_picture(a, RGB)
    with Image.open(path) as b:
        drafted = board_image(b)
    assert not np.array_equal(decoded, drafted)
    with Image.open(path) as c:
        c.load()
        assert np.array_equal(decoded, board_image(c.convert("RGB")))


def _phone_photo(path: Path) -> Image.Image:
    """A landscape-stored JPEG (white left half) tagged EXIF orientation 6: a viewer turns it
    90 degrees clockwise, showing it upright, white on top. Returns what the viewer shows."""
    pixels = np.zeros((30, 60, 3), np.uint8)
    pixels[:, :30] = 255
    stored = Image.fromarray(pixels)
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation
    stored.save(path, quality=95, exif=exif)
    return stored.transpose(Image.Transpose.ROTATE_270)


def test_exif_orientation(tmp_path: Path) -> None:
    path = tmp_path / "phone.jpg"
    shown = _phone_photo(path)
    turned = Preparation("stretch", orientation="exif")
    with Image.open(path) as photo:
        photo.load()
        as_stored = prepare_picture(photo, GREY, Preparation("stretch"))
        upright = prepare_picture(photo, GREY, turned)
    assert upright[:10].mean() > 200 and upright[-10:].mean() < 50  # white on top
    assert as_stored[:, :10].mean() > 200 and as_stored[:, -10:].mean() < 50  # white on the left
    with Image.open(path) as photo:
        photo.load()
        by_hand = prepare_picture(photo.transpose(Image.Transpose.ROTATE_270), GREY)
    assert np.abs(upright.astype(int) - by_hand).max() <= 1  # JPEG: the same up to rounding
    assert prepare_array(np.asarray(shown.convert("L")), GREY, turned).shape == GREY  # no tag
    # recorded only when used, so the records of older runs and folders read back unchanged
    assert "orientation" not in Preparation("stretch").to_dict()
    assert Preparation.from_dict(turned.to_dict()) == turned
    assert "EXIF orientation applied" in turned.describe()
    with pytest.raises(UserError, match="orientation = 'auto'; use one of stored, exif"):
        Preparation.from_dict({"orientation": "auto"}, "r.toml: [input]")
