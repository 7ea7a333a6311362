"""Input encodings of LFC overlays: the bits the host makes from a grey image, exactly."""

from __future__ import annotations

import numpy as np
import pytest

from bnntool.encoding import InputEncoding, encoded_spec
from bnntool.errors import UserError
from bnntool.overlay import load_overlay

BAYER = ((32, 160), (224, 96))


def test_a_thermometer_has_a_channel_per_level_of_the_area_average() -> None:
    image = np.zeros((1, 28, 28), dtype=np.uint8)
    image[0, :2, :2] = [[100, 100], [100, 0]]  # the first 2x2 cell of a 14x14 image: average 75
    bits = InputEncoding(28, 14, (32, 96, 160, 224)).encode(image).reshape(14, 14, 4)
    assert bits[0, 0].tolist() == [1, 0, 0, 0] and bits.sum() == 1


def test_a_dither_cuts_each_pixel_at_its_place_in_the_tiled_matrix() -> None:
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (5, 28, 28), dtype=np.uint8)
    dither = InputEncoding(28, 28, matrix=BAYER)
    assert (dither.kind, dither.shape, dither.bits) == ("dither", (28, 28, 1), 784)
    bits = dither.encode(images).reshape(5, 28, 28)
    for r, c in [(0, 0), (0, 1), (1, 0), (1, 1), (27, 26), (14, 3)]:
        assert np.array_equal(bits[:, r, c], images[:, r, c] >= BAYER[r % 2][c % 2])
    # one grey level across the image: a quarter of the pixels per threshold it passes
    flat = np.full((1, 28, 28), 170, dtype=np.uint8)
    assert dither.encode(flat).sum() == 784 * 3 // 4


def test_a_dither_after_a_resize_uses_the_area_average() -> None:
    image = np.zeros((1, 28, 28), dtype=np.uint8)
    image[0, :2, 2:4] = 200  # the 14x14 image's pixel (0, 1): 200, against threshold 160
    image[0, 2:4, 2:4] = 150  # pixel (1, 1): 150, against threshold 96
    image[0, 0, 0] = 255  # pixel (0, 0): average 63.75, against threshold 32
    bits = InputEncoding(28, 14, matrix=BAYER).encode(image).reshape(14, 14)
    assert bits[:2, :2].tolist() == [[1, 1], [0, 1]] and bits.sum() == 3
    # exact at the boundary: an average of exactly the threshold is 1, a quarter below is 0
    image[0, :2, :2] = [[32, 32], [32, 32]]
    assert InputEncoding(28, 14, matrix=BAYER).encode(image).reshape(14, 14)[0, 0] == 1
    image[0, 0, 0] = 31
    assert InputEncoding(28, 14, matrix=BAYER).encode(image).reshape(14, 14)[0, 0] == 0


def test_a_matrix_that_does_not_tile_the_image_evenly_is_cut_at_its_edge() -> None:
    m = ((10, 20, 30), (40, 50, 60))
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, (3, 28, 28), dtype=np.uint8)
    bits = InputEncoding(28, 28, matrix=m).encode(images).reshape(3, 28, 28)
    thresholds = np.array([[m[r % 2][c % 3] for c in range(28)] for r in range(28)])
    assert np.array_equal(bits, (images >= thresholds).astype(np.uint8))


def test_the_encodings_read_back_from_their_dicts() -> None:
    for encoding in (
        InputEncoding(28, 14, (32, 96, 160, 224)),
        InputEncoding(28, 28, matrix=BAYER),
    ):
        assert InputEncoding.from_dict(encoding.to_dict()) == encoding
    assert InputEncoding(28, 28, matrix=BAYER).to_dict() == {
        "encoding": "dither",
        "source": 28,
        "size": 28,
        "matrix": [[32, 160], [224, 96]],
    }
    # a 1x1 matrix of 128 at full size is BNN-PYNQ's encoding, as the one-level thermometer is
    assert (
        InputEncoding(28, 28, matrix=((128,),)).is_upstream and InputEncoding.upstream().is_upstream
    )
    assert not InputEncoding(28, 28, matrix=BAYER).is_upstream


def test_a_dither_fits_the_stock_lfc_input_as_one_channel() -> None:
    spec = encoded_spec(load_overlay("lfcW1A1"), InputEncoding(28, 28, matrix=BAYER))
    assert (spec.input_rows, spec.layers[0].mw, spec.layers[0].mw_padded) == (28, 784, 832)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"encoding": "dither", "size": 28}, r"needs size \(an integer\) and matrix"),
        ({"encoding": "dither", "size": 28, "matrix": "32"}, "list of lists of integers"),
        ({"encoding": "dither", "size": 28, "matrix": ["32", "160"]}, "got \\['32', '160'\\]"),
        ({"encoding": "dither", "size": 28, "matrix": [[32, 160], [224]]}, "non-empty rectangle"),
        ({"encoding": "dither", "size": 28, "matrix": []}, "non-empty rectangle"),
        ({"encoding": "dither", "size": 28, "matrix": [[0, 300]]}, "within 1..255"),
        ({"encoding": "dither", "size": 2, "matrix": [[1, 2, 3]]}, "larger than the 2x2 image"),
        ({"encoding": "dither", "size": 28, "levels": [1], "matrix": [[1]]}, "not levels"),
        ({"encoding": "thermometer", "size": 14, "matrix": [[1]]}, "takes levels, not matrix"),
        ({"encoding": "bayer", "size": 28}, "unknown encoding 'bayer'; use one of 'thermometer'"),
    ],
)
def test_a_bad_encoding_is_one_clear_error(raw: dict, message: str) -> None:
    with pytest.raises(UserError, match=message) as e:
        InputEncoding.from_dict(raw, "my.toml: [input]")
    assert str(e.value).startswith("my.toml: [input]: ") and "\n" not in str(e.value)
