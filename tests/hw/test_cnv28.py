"""cnv28W1A1 and cnv28W1A2, bnntool's conv overlays for 28x28 grey images, end to end on real
Fashion-MNIST: each trained briefly, converted, verified (100 % agreement with the trained
model), and its generated HLS (current generation, finn-hlslib cc8db47) C-simulated with g++ to
the classes verify gives, image by image. The accuracy of the full recipes is measured elsewhere
(docs/results.md)."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pytest

from bnntool.hw.boards import get_board
from bnntool.hw.plan import estimate
from bnntool.overlay import load_overlay

IMAGES = 6
OVERLAYS = ["cnv28W1A1", "cnv28W1A2"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_planner_fits_it_on_a_pynq_z2(overlay: str) -> None:
    est = estimate(load_overlay(overlay), get_board("pynq-z2"))
    assert est.fits and est.fps >= 3000
    assert est.luts <= 0.9 * est.board_luts and est.bram_tiles <= 0.9 * est.board_bram_tiles


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_trained_converted_verified_and_c_simulated(
    overlay: str,
    tmp_path: Path,
    shared: Path,
    ap_types: Path,
    run_cli,
) -> None:
    data = tmp_path / "data"
    assert run_cli("fetch", "fashion-mnist", "--data-dir", data, "--mirror",
                   shared / "datasets").exit_code == 0  # fmt: skip
    run = tmp_path / "run"
    trained = run_cli(
        "train", f"fashion-mnist-{overlay}", "--epochs", "1", "--limit", "600", "--out", run,
        "--data-dir", data, "--device", "cpu",
    )  # fmt: skip
    assert trained.exit_code == 0, trained.stderr
    assert run_cli("convert", run, "--out", tmp_path / "params").exit_code == 0
    verified = run_cli(
        "verify", tmp_path / "params", "--dataset", "fashion-mnist", "--data-dir", data,
        "--against", run, "--limit", "500", "--json", "--report", tmp_path / "v.json",
    )  # fmt: skip
    assert verified.exit_code == 0, verified.stderr
    report = json.loads(verified.stdout)
    assert report["overlay"] == overlay and report["against"]["agreement"] == 100.0

    # verify's class of each of the first test images, then the C simulation of each
    from bnntool.convert.params import read_params
    from bnntool.data import load_dataset
    from bnntool.sim.model import OverlayModel
    from bnntool.sim.readout import BATCH, cnv_class

    test = load_dataset("fashion-mnist", "test", data).head(IMAGES)
    outputs, _ = OverlayModel(read_params(tmp_path / "params")).run(test.images)
    classes = cnv_class(outputs, 10, BATCH)
    # the test bench reads records as a CIFAR-10 binary file: a label byte, then the one plane
    raw = gzip.decompress((data / "fashion-mnist" / "t10k-images-idx3-ubyte.gz").read_bytes())
    records = tmp_path / "records.bin"
    records.write_bytes(
        b"".join(
            bytes([int(test.labels[i])]) + raw[16 + 784 * i : 16 + 784 * (i + 1)]
            for i in range(IMAGES)
        )
    )
    for index in range(IMAGES):
        result = run_cli(
            "build", "--overlay", tmp_path / "params", "--board", "pynq-z2", "--out",
            tmp_path / "build", "--stage", "csim", "--vivado-version", "2024.2",
            "--hlslib", shared / "fixtures" / "finn-hlslib-cc8db47", "--ap-types", ap_types,
            "--csim-params", tmp_path / "params", "--csim-image", records,
            "--csim-class", str(int(classes[index])), "--csim-index", str(index), "--json",
        )  # fmt: skip
        assert result.exit_code == 0, (index, result.stderr)
    assert len(set(np.asarray(classes).tolist())) > 1  # not one class for every image
