"""Tiny overlays whose files were worked out by hand from the format spec (sections 2.3-2.8).

Every expected word and threshold below is a literal derived on paper, not computed by bnntool.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bnntool.convert import convert
from bnntool.overlay import spec_from_dict


def words(path: Path) -> list[int]:
    return np.fromfile(path, dtype="<u8").tolist()


def ints(path: Path) -> list[int]:
    return np.fromfile(path, dtype="<i8").tolist()


def f32(*values: object) -> np.ndarray:
    return np.array(values, dtype=np.float32)


# --- W1A1: two dense layers, SIMD 2, PE 2 --------------------------------------------------

W1A1 = spec_from_dict(
    {
        "name": "tiny-w1a1",
        "boards": [],
        "input": {"rows": 4, "cols": 1, "channels": 1, "precision": "1.0"},
        "layers": [
            {
                "kind": "dense",
                "outputs": 4,
                "simd": 2,
                "pe": 2,
                "weights": "1.0",
                "activations": "1.0",
            },
            {
                "kind": "dense",
                "outputs": 64,
                "simd": 2,
                "pe": 2,
                "weights": "1.0",
                "activations": "1.0",
            },
        ],
    },
    "tiny-w1a1",
)


@pytest.fixture
def w1a1_npz(tmp_path: Path) -> Path:
    w0 = np.array(
        [
            [0.5, -0.2, 0.0, -1.0],
            [-0.3, 0.7, 0.1, 0.4],
            [0.9, -0.9, -0.6, 0.2],
            [-0.1, 0.0, 0.3, -0.5],
        ],
        dtype=np.float32,
    )
    w1 = np.array([[1, -1], [-0.5, 0.25], [0, 0.75], [-0.75, -0.25]], dtype=np.float32)
    arrays = [
        w0,
        f32(0, 0, 0, 0),
        f32(0, 0.5, -1, 0),
        f32(1, -1, 2, 1),
        f32(0.5, 1, -2.3, 2),
        f32(1, 1, 0.5, 1),
        w1,
        f32(1, 0),
        f32(0, 0),
        f32(1, 1),
        f32(2, -1),
        f32(1, 1),
    ]
    path = tmp_path / "w1a1.npz"
    np.savez(path, *arrays)
    return path


def test_w1a1_upstream(w1a1_npz: Path, tmp_path: Path) -> None:
    out = tmp_path / "up"
    convert(w1a1_npz, W1A1, out, thresholds="upstream")
    # Layer 0: 4 inputs padded to 64 (one AXI word), SIMD 2 -> 32 words per row; pad bits are 1.
    # Row bits after the sign flip: [1,0,1,0], [1,0,1,1] (-0.0 is not < 0), [1,1,0,1], [0,1,1,0].
    # Lane 0 in bit 0: (1,0)->1, (1,1)->3, (0,1)->2. Rows 0, 2 in PE 0; rows 1, 3 in PE 1.
    assert words(out / "0-0-weights.bin") == [1, 1] + [3] * 30 + [3, 2] + [3] * 30
    assert words(out / "0-1-weights.bin") == [1, 3] + [3] * 30 + [2, 1] + [3] * 30
    # Popcount thresholds trunc((4 + s*R) / 2): R = 0.5, 1.5 (s=-1), -1.3, 2 -> 2, 1, 1, 3.
    assert ints(out / "0-0-thres.bin") == [2, 1]
    assert ints(out / "0-1-thres.bin") == [1, 3]
    # Layer 1: 2 classes padded to 64 rows (all-ones weights, thresholds 65535 -> 32767).
    assert words(out / "1-0-weights.bin") == [1, 1] + [3, 3] * 31
    assert words(out / "1-1-weights.bin") == [2, 1] + [3, 3] * 31
    assert ints(out / "1-0-thres.bin") == [2] + [32767] * 31
    assert ints(out / "1-1-thres.bin") == [1] + [32767] * 31
    assert (out / "classes.txt").read_text() == "0\n1"


def test_w1a1_exact_fixes_the_tie_and_the_flipped_zero(w1a1_npz: Path, tmp_path: Path) -> None:
    out = tmp_path / "exact"
    convert(w1a1_npz, W1A1, out)
    # Neuron 3: y = K - 2 >= 0 iff K >= 2, i.e. popcount >= 3: threshold 2 (upstream's 3 says
    # -1 on the tie K = 2). Neuron 1: the latent 0.0 quantizes to +1 and flips to -1 (bit 0).
    assert ints(out / "0-1-thres.bin") == [1, 2]
    assert words(out / "0-1-weights.bin") == [1, 1] + [3] * 30 + [2, 1] + [3] * 30
    assert ints(out / "0-0-thres.bin") == [2, 1]


# --- W1A2 then W2A1: 2-bit activations, accumulator offset, 2-bit weight codes ---------------

MIXED = spec_from_dict(
    {
        "name": "tiny-mixed",
        "boards": [],
        "input": {"rows": 4, "cols": 1, "channels": 1, "precision": "1.0"},
        "layers": [
            {
                "kind": "dense",
                "outputs": 2,
                "simd": 4,
                "pe": 2,
                "weights": "1.0",
                "activations": "2.0",
            },
            {
                "kind": "dense",
                "outputs": 64,
                "simd": 2,
                "pe": 2,
                "weights": "2.0",
                "activations": "1.0",
            },
        ],
    },
    "tiny-mixed",
)


def test_mixed_precisions_upstream(tmp_path: Path) -> None:
    w0 = np.array([[0.3, -0.4], [-0.2, 0.0], [0.6, 0.9], [-0.8, 0.1]], dtype=np.float32)
    arrays = [
        w0,
        f32(0.5, 0),
        f32(0.25, 0),
        f32(2, -1),
        f32(1, 0.5),
        f32(0.5, 1),
        np.array([[0.5], [0.8]], dtype=np.float32),
        f32(0),
        f32(0.1),
        f32(-1),
        f32(0.2),
        f32(2),
    ]
    np.savez(tmp_path / "m.npz", *arrays)
    out = tmp_path / "up"
    convert(tmp_path / "m.npz", MIXED, out, thresholds="upstream")
    # Layer 0: rows [1,0,1,0] and (flipped) [1,1,0,0]; SIMD 4: 0b0101 = 5, 0b0011 = 3; padding 15.
    assert words(out / "0-0-weights.bin") == [5] + [15] * 15
    assert words(out / "0-1-weights.bin") == [3] + [15] * 15
    # Steps -0.5, +0.5. Neuron 0: R = 0.5 + (s - 0.25) -> -0.25, 0.75 -> floor -1, 0.
    # Neuron 1 (s=-1): R = 0.5 - s -> 1.0, 0.0 -> ceil(-1.0), ceil(-0.0) -> -1, 0.
    # 60 padded columns each add (+1)(-1): every threshold is lowered by 60.
    assert ints(out / "0-0-thres.bin") == [-61, -60]
    assert ints(out / "0-1-thres.bin") == [-61, -60]
    # Layer 1 (s=-1): -0.5 -> floor(0.0) = 0, -0.8 -> floor(-0.3) = -1 -> code 3 in lane 1: 12.
    assert words(out / "1-0-weights.bin") == [12] + [0] * 31
    assert words(out / "1-1-weights.bin") == [0] * 32
    # R = 0.2 + (0 - 0.1)/(-2) = 0.25, s=-1 -> ceil(-0.25) = 0; no offset with 2-bit weights.
    assert ints(out / "1-0-thres.bin") == [0] + [32767] * 31
    assert ints(out / "1-1-thres.bin") == [32767] * 32


# --- A conv layer with 8-bit input, then the CNV-style output layer ---------------------------

CONV = spec_from_dict(
    {
        "name": "tiny-conv",
        "boards": [],
        "input": {"rows": 3, "cols": 3, "channels": 2, "precision": "1.7"},
        "layers": [
            {
                "kind": "conv",
                "channels": 2,
                "kernel": 2,
                "simd": 2,
                "pe": 1,
                "weights": "1.0",
                "activations": "1.0",
                "thresholds": "16.8",
            },
            {
                "kind": "dense",
                "outputs": 64,
                "simd": 8,
                "pe": 1,
                "weights": "1.0",
                "activations": "16.0",
                "thresholds": False,
                "bias": False,
                "batchnorm": "scalar",
            },
        ],
    },
    "tiny-conv",
)


def test_conv_layer_and_scores_layer_upstream(tmp_path: Path) -> None:
    w0 = np.array(
        [
            [[[0.1, -0.2], [0.3, -0.4]], [[-0.5, 0.6], [-0.7, 0.8]]],
            [[[-0.1, 0.2], [0.0, 0.4]], [[0.5, -0.6], [0.7, -0.8]]],
        ],
        dtype=np.float32,
    )
    # Lasagne flattens channel-major: rows c*4 + p of the dense weights.
    w1 = np.array(
        [
            [0.1, -1],
            [0.2, -1],
            [0.3, -1],
            [0.4, -1],
            [-0.5, -1],
            [-0.6, -1],
            [-0.7, -1],
            [-0.8, -1],
        ],
        dtype=np.float32,
    )
    arrays = [
        w0,
        f32(0.1, 0),
        f32(0, 0.25),
        f32(1, -2),
        f32(0.3, 0),
        f32(1, 0.5),
        w1,
        np.float32(0),
        np.float32(-1.5),
        np.float32(0),
        np.float32(1),
    ]
    np.savez(tmp_path / "c.npz", *arrays)
    out = tmp_path / "up"
    convert(tmp_path / "c.npz", CONV, out, thresholds="upstream")
    # Columns in (ky, kx, channel) order: filter 0 -> bits [1,0,0,1,1,0,0,1]; filter 1 (gamma < 0,
    # flipped, -0.0 -> 1) -> the same. SIMD 2: (1,0) -> 1, (0,1) -> 2.
    assert words(out / "0-0-weights.bin") == [1, 2, 1, 2, 1, 2, 1, 2]
    # 24-bit thresholds in 1/256: floor(256 * 0.2) = 51; filter 1: R = 0.25, ceil(-256*0.25) = -64.
    assert ints(out / "0-0-thres.bin") == [51, -64]
    # The dense layer reads the conv output pixel-major (p*2 + c); the scalar gamma -1.5 flips
    # every weight: class 0 -> [0,1,0,1,0,1,0,1] = 0xAA, class 1 -> all ones, padding all ones.
    assert words(out / "1-0-weights.bin") == [0xAA, 0xFF] + [0xFF] * 62
    assert not (out / "1-0-thres.bin").exists()
