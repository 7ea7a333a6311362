"""`bnntool verify` and `bnntool pipeline` as users run them, and their bad input."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from bnntool.overlay import load_overlay
from bnntool.verify import verify
from tests.convert.fakes import layer_arrays, write_npz


def trained_npz(tmp_path: Path, overlay: str, seed: int = 0) -> Path:
    spec = load_overlay(overlay)
    return write_npz(tmp_path / f"{overlay}.npz", layer_arrays(spec, np.random.default_rng(seed)))


@pytest.mark.parametrize("overlay", ["lfcW1A1", "lfcW1A2"])
def test_exact_folders_agree_with_the_trained_model(
    overlay: str, tmp_path: Path, mnist_dir: Path, run_cli
) -> None:
    """The weights include ties, zero weights and negative gamma: exact agrees on every image
    and every activation; upstream's rounding does not."""
    npz = trained_npz(tmp_path, overlay)
    for mode in ("exact", "upstream"):
        assert (
            run_cli(
                "convert", npz, "--overlay", overlay, "--out", tmp_path / mode, "--thresholds", mode
            ).exit_code
            == 0
        )
    exact = verify(
        tmp_path / "exact",
        "mnist",
        against=npz,
        limit=2000,
        data_dir=mnist_dir,
        report=tmp_path / "e.json",
    )
    assert exact.against.agreement == 100.0
    assert exact.against.disagreements == []
    assert exact.against.first_differing_layer is None
    up = verify(
        tmp_path / "upstream",
        "mnist",
        against=npz,
        limit=2000,
        data_dir=mnist_dir,
        report=tmp_path / "u.json",
    )
    assert up.against.agreement < 100.0
    assert up.against.first_differing_layer == 0 and up.against.differing_images_at_that_layer > 0
    assert len(up.against.disagreements) == min(
        1000, round(2000 * (100 - up.against.agreement) / 100)
    )


@pytest.mark.parametrize("overlay", ["cnvW1A1", "cnvW2A2"])
def test_cnv_exact_agreement(overlay: str, tmp_path: Path, mnist_dir: Path) -> None:
    """On CNV (via --fit: MNIST digits resized to 32x32 RGB), including the pooled layers."""
    npz = trained_npz(tmp_path, overlay, seed=1)
    from bnntool.convert import convert

    convert(npz, overlay, tmp_path / "p")
    result = verify(
        tmp_path / "p",
        "mnist",
        against=npz,
        limit=150,
        data_dir=mnist_dir,
        fit=True,
        report=tmp_path / "r.json",
    )
    assert result.against.agreement == 100.0 and result.against.first_differing_layer is None


def test_verify_human_output(tmp_path: Path, mnist_dir: Path, run_cli) -> None:
    npz = trained_npz(tmp_path, "lfcW1A1")
    assert (
        run_cli(
            "convert", npz, "--overlay", "lfcW1A1", "--out", tmp_path / "p", "--dataset", "mnist"
        ).exit_code
        == 0
    )
    result = run_cli(
        "verify",
        tmp_path / "p",
        "--dataset",
        "mnist",
        "--data-dir",
        mnist_dir,
        "--limit",
        "300",
        "--against",
        npz,
        "--report",
        tmp_path / "out" / "v.json",
    )
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith("lfcW1A1 on mnist test: ")
    assert "agreement 100.00%" in result.stdout
    assert (tmp_path / "out" / "v.json").is_file() and (tmp_path / "out" / "v.png").is_file()


def _error(result) -> str:
    assert result.exit_code == 2, result.stdout + result.stderr
    assert result.stderr.startswith("bnntool: error: ") and result.stderr.count("\n") == 1
    return result.stderr


@pytest.fixture
def xilinx_copy(upstream: Path, tmp_path: Path) -> Path:
    folder = tmp_path / "lfcW1A1"
    shutil.copytree(upstream / "params" / "mnist" / "lfcW1A1", folder)
    for p in folder.iterdir():
        p.chmod(0o644)
    return folder


def verify_copy(run_cli, folder: Path, data_dir: Path, overlay: str = "lfcW1A1", *extra: object):
    return run_cli(
        "verify", folder, "--overlay", overlay, "--dataset", "mnist", "--data-dir", data_dir, *extra
    )


def test_missing_bin_file(xilinx_copy: Path, mnist_dir: Path, run_cli) -> None:
    (xilinx_copy / "2-7-thres.bin").unlink()
    message = _error(verify_copy(run_cli, xilinx_copy, mnist_dir, "lfcW1A1"))
    assert "has no 2-7-thres.bin" in message


def test_short_bin_file(xilinx_copy: Path, mnist_dir: Path, run_cli) -> None:
    path = xilinx_copy / "1-3-weights.bin"
    path.write_bytes(path.read_bytes()[:-8])
    message = _error(verify_copy(run_cli, xilinx_copy, mnist_dir, "lfcW1A1"))
    assert "1-3-weights.bin has 4088 bytes, expected 4096" in message


def test_folder_of_another_overlay(xilinx_copy: Path, mnist_dir: Path, run_cli) -> None:
    message = _error(verify_copy(run_cli, xilinx_copy, mnist_dir, "lfcW1A2"))
    assert "0-0-thres.bin has 256 bytes, expected 512 for overlay lfcW1A2" in message


def test_overlay_from_the_folder_name_as_deploy_infers_it(
    xilinx_copy: Path, mnist_dir: Path, run_cli, tmp_path: Path
) -> None:
    # BNN-PYNQ's params/<dataset>/<overlay>: the folder's name is the overlay, as for deploy
    args = ("--dataset", "mnist", "--data-dir", mnist_dir, "--limit", "100")
    named = run_cli("verify", xilinx_copy, *args, "--report", tmp_path / "r.json")
    assert named.exit_code == 0, named.stderr
    assert named.stdout.startswith("lfcW1A1 on mnist test: ")
    other = xilinx_copy.rename(tmp_path / "mine")
    message = _error(run_cli("verify", other, *args))
    assert "no manifest.json" in message and "--overlay" in message


def test_image_size_that_does_not_fit(upstream: Path, mnist_dir: Path, run_cli) -> None:
    folder = upstream / "params" / "cifar10" / "cnvW1A1"
    message = _error(
        run_cli(
            "verify", folder, "--overlay", "cnvW1A1", "--dataset", "mnist", "--data-dir", mnist_dir
        )
    )
    assert "28x28 grey but overlay cnvW1A1 takes 32x32 RGB" in message and "--fit" in message


def test_unknown_dataset_and_zero_limit(xilinx_copy: Path, mnist_dir: Path, run_cli) -> None:
    assert "unknown dataset 'emnist'" in _error(
        run_cli("verify", xilinx_copy, "--overlay", "lfcW1A1", "--dataset", "emnist")
    )
    assert "'--limit': 0 is not in the range" in _error(
        run_cli(
            "verify",
            xilinx_copy,
            "--overlay",
            "lfcW1A1",
            "--dataset",
            "mnist",
            "--data-dir",
            mnist_dir,
            "--limit",
            "0",
        )
    )


def test_dataset_not_fetched(xilinx_copy: Path, tmp_path: Path, run_cli) -> None:
    message = _error(
        run_cli(
            "verify",
            xilinx_copy,
            "--overlay",
            "lfcW1A1",
            "--dataset",
            "mnist",
            "--data-dir",
            tmp_path / "empty",
        )
    )
    assert "run 'bnntool fetch mnist'" in message


def test_pipeline_runs_and_resumes(tmp_path: Path, shared: Path, run_cli) -> None:
    npz = trained_npz(tmp_path, "lfcW1A2")
    args = (
        "pipeline",
        "mnist",
        "--overlay",
        "lfcW1A2",
        "--weights",
        npz,
        "--out",
        tmp_path / "run",
        "--data-dir",
        tmp_path / "data",
        "--mirror",
        shared / "datasets",
        "--limit",
        "500",
    )
    first = run_cli(*args, "--json")
    assert first.exit_code == 0, first.stderr
    report = json.loads(first.stdout)
    assert [s["status"] for s in report["stages"]] == ["done", "done", "done"]
    assert report["verify"]["against"]["agreement"] == 100.0
    assert (tmp_path / "run" / "params" / "manifest.json").is_file()
    second = run_cli(*args)
    assert second.exit_code == 0
    assert [line.split()[:2] for line in second.stdout.splitlines()[:3]] == [
        ["fetch", "skipped"],
        ["convert", "skipped"],
        ["verify", "skipped"],
    ]
    assert "agreement (outputs)" in second.stdout and "100.00%" in second.stdout
    other = trained_npz(tmp_path, "lfcW1A2", seed=9)
    third = run_cli(*args[:5], other, *args[6:])
    assert third.exit_code == 0, third.stderr
    assert [line.split()[1] for line in third.stdout.splitlines()[1:3]] == ["done", "done"]
