"""Real-world proof: Xilinx's own parameter folders give BNN-PYNQ's published results."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bnntool.convert import read_params
from bnntool.data.idx import read_idx_images
from bnntool.sim import OverlayModel, cnv_class, lfc_class
from bnntool.sim.images import board_image, thumbnail

CNV = ("cnvW1A1", "cnvW1A2", "cnvW2A2")


@pytest.mark.parametrize(("overlay", "correct"), [("lfcW1A1", 9840), ("lfcW1A2", 9849)])
def test_published_mnist_accuracy(
    overlay: str, correct: int, upstream: Path, mnist_dir: Path, tmp_path: Path, run_cli
) -> None:
    """Spec 7: 98.40 % and 98.49 % on the 10 000 MNIST test images (the batch read-out)."""
    folder = upstream / "params" / "mnist" / overlay
    report = tmp_path / "r.json"
    result = run_cli(
        "verify",
        folder,
        "--overlay",
        overlay,
        "--dataset",
        "mnist",
        "--data-dir",
        mnist_dir,
        "--report",
        report,
        "--json",
    )
    assert result.exit_code == 0, result.stderr
    summary = json.loads(result.stdout)
    assert (summary["correct"], summary["images"]) == (correct, 10000)
    assert summary["accuracy"] == pytest.approx(correct / 100)
    assert json.loads(report.read_text())["correct"] == correct
    assert report.with_suffix(".png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("overlay", ["lfcW1A1", "lfcW1A2"])
def test_the_mnist_three(overlay: str, upstream: Path) -> None:
    """Spec 3.5: 3.image-idx3-ubyte gives output word 0x8, class 3, on both LFC overlays."""
    folder = read_params(upstream / "params" / "mnist" / overlay, overlay)
    image = read_idx_images(upstream / "tests" / "Test_image" / "3.image-idx3-ubyte")
    bits, acts = OverlayModel(folder).run(image, keep=True)
    assert bits[0, :10].tolist() == [0, 0, 0, 1, 0, 0, 0, 0, 0, 0]
    assert lfc_class(bits, 10).tolist() == [3]
    # The last layer's accumulators, from layer 2's outputs (spec 3.5's extra vectors).
    last = folder.layers[3]
    sums = acts[2].astype(np.int64) @ last.weights.T.astype(np.int64)
    if overlay == "lfcW1A1":
        popcounts = (last.spec.mw_padded + sums) // 2
        assert popcounts[0, :10].tolist() == [509, 491, 490, 817, 460, 504, 517, 515, 527, 515]
        assert last.thresholds[:10, 0].tolist() == [
            664,
            645,
            644,
            644,
            665,
            659,
            644,
            640,
            694,
            674,
        ]
    else:
        assert sums[0, :10].tolist() == [31, -63, -29, 587, -17, -15, 7, -7, 51, 19]


DEER_BIN = {
    "cnvW1A1": [228, 229, 251, 250, 412, 253, 230, 262, 222, 239],
    "cnvW1A2": [-26, -44, -32, -8, 264, 2, -12, -32, -46, -36],
    "cnvW2A2": [-22, -27, -16, -10, 239, 1, -9, -17, -15, -27],
}
DEER_JPG = {  # published in notebooks/CNV-QNN_Cifar10.ipynb
    "cnvW1A1": [234, 231, 265, 248, 410, 257, 224, 262, 226, 233],
    "cnvW1A2": [-20, -46, -38, -6, 268, 6, -14, -28, -38, -30],
    "cnvW2A2": [-24, -34, -21, -13, 244, 4, -7, -20, -27, -13],
}


def cnv_model(upstream: Path, overlay: str, dataset: str = "cifar10") -> OverlayModel:
    return OverlayModel(read_params(upstream / "params" / dataset / overlay, overlay))


@pytest.mark.parametrize("overlay", CNV)
def test_deer_record(overlay: str, upstream: Path) -> None:
    """deer.bin, the CIFAR-10 record that make-hw.sh's C simulation classifies: class 4."""
    record = np.fromfile(upstream / "tests" / "Test_image" / "deer.bin", dtype=np.uint8)
    assert record[0] == 1 and len(record) == 3073
    image = record[1:].reshape(3, 32, 32).transpose(1, 2, 0)[None]
    scores, _ = cnv_model(upstream, overlay).run(image)
    assert scores[0, :10].tolist() == DEER_BIN[overlay]
    assert cnv_class(scores, 10).tolist() == [4]


@pytest.mark.parametrize("overlay", CNV)
def test_deer_photo_published_scores(overlay: str, upstream: Path) -> None:
    image = Image.open(upstream / "tests" / "Test_image" / "deer.jpg")
    image.load()  # the notebook shows the picture first, which decodes it (no JPEG draft)
    scores, _ = cnv_model(upstream, overlay).run(board_image(image)[None])
    assert scores[0, :10].tolist() == DEER_JPG[overlay]


@pytest.mark.parametrize(
    ("picture", "scores"),
    [
        ("car.png", [258, 417, 233, 206, 238, 215, 222, 238, 236, 249]),
        ("airplane.jpg", [412, 237, 233, 214, 248, 239, 242, 234, 250, 247]),
        ("bird.jpg", [268, 241, 387, 262, 284, 289, 236, 248, 230, 227]),
    ],
)
def test_notebook_pictures(picture: str, scores: list[int], upstream: Path) -> None:
    """notebooks/CNV-BNN_Cifar10.ipynb: each picture thumbnailed to 64x64 first, then prepared."""
    image = thumbnail(Image.open(upstream / "notebooks" / "pictures" / picture), (64, 64))
    result, _ = cnv_model(upstream, "cnvW1A1").run(board_image(image)[None])
    assert result[0, :10].tolist() == scores
    assert int(np.argmax(scores)) == int(cnv_class(result, 10)[0])


def test_road_sign(upstream: Path) -> None:
    """tests/test_qnn.py: CNV W1A1 with the road-signs parameters classifies stop.jpg as 14."""
    model = cnv_model(upstream, "cnvW1A1", "road-signs")
    assert len(model.classes) == 44 and model.classes[14] == "Stop"
    scores, _ = model.run(
        board_image(Image.open(upstream / "tests" / "Test_image" / "stop.jpg"))[None]
    )
    assert cnv_class(scores, 44, "single").tolist() == [14]
