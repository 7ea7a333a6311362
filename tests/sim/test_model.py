"""The model's own guarantees: float32 equals integer arithmetic, read-outs, input packing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bnntool.convert import convert, read_params
from bnntool.encoding import InputEncoding
from bnntool.overlay import load_overlay
from bnntool.sim import OverlayModel, cnv_class, exactness_bound, lfc_class
from bnntool.sim.inputs import cnv_codes
from bnntool.sim.model import FLOAT32_EXACT
from bnntool.sim.readout import quirks
from tests.convert.fakes import layer_arrays, write_npz

OVERLAYS = ("lfcW1A1", "lfcW1A2", "cnvW1A1", "cnvW1A2", "cnvW2A2")


def test_float32_is_exact_for_every_stock_layer() -> None:
    """The largest possible |dot product| of every layer is far below 2^24."""
    bounds = [exactness_bound(layer) for name in OVERLAYS for layer in load_overlay(name).layers]
    assert max(bounds) < FLOAT32_EXACT
    assert exactness_bound(load_overlay("cnvW2A2").layers[0]) == 27 * 128 * 2


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_float32_engine_equals_integer_engine(overlay: str, tmp_path: Path) -> None:
    spec = load_overlay(overlay)
    npz = write_npz(tmp_path / "w.npz", layer_arrays(spec, np.random.default_rng(4)))
    convert(npz, spec, tmp_path / "p", thresholds="upstream")
    params = read_params(tmp_path / "p")
    images = np.random.default_rng(5).integers(0, 256, (6, *spec.image_shape), dtype=np.uint8)
    fast, fast_acts = OverlayModel(params).run(images, keep=True)
    slow, slow_acts = OverlayModel(params, engine="int64").run(images, keep=True)
    assert np.array_equal(fast, slow)
    for a, b in zip(fast_acts, slow_acts, strict=True):
        assert np.array_equal(a, b)


def test_input_packing() -> None:
    """Spec 3.3: LFC bit = pixel >= 128; CNV code k/128 with k = c-128, c-127, 127."""
    pixels = np.zeros((1, 28, 28), dtype=np.uint8)
    pixels[0, 0, :4] = [0, 127, 128, 255]
    bits = InputEncoding.upstream().encode(pixels)
    assert bits.shape == (1, 784) and bits[0, :4].tolist() == [0, 0, 1, 1] and bits.sum() == 2
    codes = cnv_codes(np.array([0, 1, 127, 128, 129, 254, 255], dtype=np.uint8))
    assert codes.tolist() == [-128, -127, -1, 1, 2, 127, 127]
    # The host computes round-half-up(-1 + 2c/255 scaled by 128), saturating at 127.
    c = np.arange(256)
    host = np.minimum(np.floor((-1 + 2 * c / 255) * 128 + 0.5), 127)
    assert np.array_equal(cnv_codes(c.astype(np.uint8)), host)


def test_lfc_readouts() -> None:
    """Spec 3.4: batch = highest set bit (0 if none); single = round(log2(word))."""
    bits = np.zeros((4, 64), dtype=np.int64)
    bits[0, 3] = 1  # one-hot
    bits[2, [3, 4, 5, 6, 7, 9]] = 1  # word 0x2f8
    bits[3, 12] = 1  # beyond the 10 classes: masked away
    assert lfc_class(bits, 10).tolist() == [3, 0, 9, 0]
    assert lfc_class(bits, 10, "single").tolist() == [3, 0, 10, 0]  # 10: beyond the classes
    assert quirks("lfc", bits, 10) == {"no_class_bit": 2, "several_class_bits": 1}


def test_cnv_readouts() -> None:
    """Spec 3.4: batch starts from a best of 0 at class 0; single takes the first maximum."""
    scores = np.array([[-5, -3, -9, 0], [1, 7, 7, 2], [-4, -1, -2, -8]])
    assert cnv_class(scores, 4).tolist() == [0, 1, 0]
    assert cnv_class(scores, 4, "single").tolist() == [3, 1, 1]
    assert quirks("cnv", scores, 4) == {"all_scores_not_positive": 2}
