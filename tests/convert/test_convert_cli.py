"""`bnntool convert` as a user runs it: stock overlays, manifests, and every kind of bad input."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from bnntool.artifacts import sha256_file
from bnntool.overlay import load_overlay
from tests.conftest import REPO
from tests.convert.fakes import layer_arrays, write_npz

FIXTURE_FOLDERS = {
    "lfcW1A1": "mnist/lfcW1A1",
    "lfcW1A2": "mnist/lfcW1A2",
    "cnvW1A1": "cifar10/cnvW1A1",
    "cnvW1A2": "cifar10/cnvW1A2",
    "cnvW2A2": "cifar10/cnvW2A2",
}


def npz_for(tmp_path: Path, overlay: str, seed: int = 0, classes: int = 10, **edits) -> Path:
    arrays = layer_arrays(load_overlay(overlay), np.random.default_rng(seed), classes=classes)
    for index, value in edits.items():
        arrays[int(index.removeprefix("arr_"))] = value
    return write_npz(tmp_path / f"{overlay}-{seed}.npz", arrays)


def listing(folder: Path) -> dict[str, int]:
    return {p.name: p.stat().st_size for p in folder.iterdir()}


@pytest.mark.parametrize("overlay", list(FIXTURE_FOLDERS))
@pytest.mark.parametrize("mode", ["upstream", "exact"])
def test_stock_overlays_give_upstreams_file_names_and_sizes(
    overlay: str, mode: str, tmp_path: Path, shared: Path, run_cli
) -> None:
    npz = npz_for(tmp_path, overlay)
    out = tmp_path / "params"
    result = run_cli("convert", npz, "--overlay", overlay, "--out", out, "--thresholds", mode)
    assert result.exit_code == 0, result.stderr
    ours = listing(out)
    assert ours.pop("manifest.json") > 0
    theirs = listing(shared / "fixtures" / "upstream" / "params" / FIXTURE_FOLDERS[overlay])
    ours.pop("classes.txt"), theirs.pop("classes.txt")
    assert ours == theirs


def test_manifest_records_what_made_the_folder(tmp_path: Path, run_cli) -> None:
    npz = npz_for(tmp_path, "lfcW1A2")
    out = tmp_path / "params"
    result = run_cli(
        "convert", npz, "--overlay", "lfcW1A2", "--out", out, "--dataset", "fashion-mnist"
    )
    assert result.exit_code == 0, result.stderr
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["overlay"] == "lfcW1A2"
    assert manifest["overlay_spec"]["layers"][0]["simd"] == 64
    assert manifest["thresholds"] == "exact"
    assert manifest["source"]["sha256"] == sha256_file(npz)
    assert manifest["classes"][0] == "T-shirt/top"
    assert (out / "classes.txt").read_text().split("\n")[-1] == "Ankle boot"
    files = manifest["files"]
    assert len(files) == 289 and files["classes.txt"] == sha256_file(out / "classes.txt")
    assert all(
        files[name] == sha256_file(out / name) for name in ("0-0-weights.bin", "3-15-thres.bin")
    )


def test_json_output(tmp_path: Path, run_cli) -> None:
    npz = npz_for(tmp_path, "cnvW1A1")
    result = run_cli("convert", npz, "--overlay", "cnvW1A1", "--out", tmp_path / "p", "--json")
    assert result.exit_code == 0
    report = json.loads(result.stdout)
    assert report["overlay"] == "cnvW1A1" and report["files"] == 180
    assert [layer["index"] for layer in report["layers"]] == list(range(9))
    assert any("negative gamma before the max-pool" in n for n in report["notes"])


def test_classes_file_and_force(tmp_path: Path, run_cli) -> None:
    npz = npz_for(tmp_path, "lfcW1A1", classes=3)
    names = tmp_path / "names.txt"
    names.write_text("cat\ndog\nbird\n")
    out = tmp_path / "p"
    assert (
        run_cli("convert", npz, "--overlay", "lfcW1A1", "--out", out, "--classes", names).exit_code
        == 0
    )
    assert (out / "classes.txt").read_text() == "cat\ndog\nbird"
    again = run_cli("convert", npz, "--overlay", "lfcW1A1", "--out", out)
    assert again.exit_code == 2 and "exists; choose another --out or add --force" in again.stderr
    forced = run_cli("convert", npz, "--overlay", "lfcW1A1", "--out", out, "--force")
    assert forced.exit_code == 0 and (out / "classes.txt").read_text() == "0\n1\n2"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([npz.name, "names.txt", "p"])


def test_pytorch_variances(tmp_path: Path, run_cli) -> None:
    spec = load_overlay("lfcW1A1")
    arrays = layer_arrays(spec, np.random.default_rng(3))
    variances = [a.copy() for a in arrays]
    inv_std = [a.astype(np.float64) for a in arrays]
    for layer in range(4):
        var = (
            np.random.default_rng(layer)
            .uniform(0, 50, arrays[6 * layer + 5].shape)
            .astype(np.float32)
        )
        var[:3] = 0.0  # a zero variance: the inv_std slot would hold 0 (BNN-PYNQ issue #39)
        variances[6 * layer + 5] = var
        inv_std[6 * layer + 5] = 1 / np.sqrt(var.astype(np.float64) + 1e-5)
    np.savez(tmp_path / "var.npz", *variances)
    np.savez(tmp_path / "inv.npz", *inv_std)
    plain = run_cli(
        "convert", tmp_path / "var.npz", "--overlay", "lfcW1A1", "--out", tmp_path / "bad"
    )
    assert plain.exit_code == 2
    assert "inv_std values are <= 0" in plain.stderr and "--bn-variance" in plain.stderr
    assert not (tmp_path / "bad").exists()
    ok = run_cli(
        "convert",
        tmp_path / "var.npz",
        "--overlay",
        "lfcW1A1",
        "--out",
        tmp_path / "a",
        "--bn-variance",
    )
    assert ok.exit_code == 0, ok.stderr
    assert (
        run_cli(
            "convert", tmp_path / "inv.npz", "--overlay", "lfcW1A1", "--out", tmp_path / "b"
        ).exit_code
        == 0
    )
    for name in ("0-0-thres.bin", "2-5-thres.bin", "3-0-weights.bin"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


def test_degenerate_values_are_counted(tmp_path: Path, run_cli) -> None:
    gamma = np.random.default_rng(0).uniform(0.5, 1, 1024).astype(np.float32)
    gamma[:5] = 0.0
    npz = npz_for(tmp_path, "lfcW1A1", arr_9=gamma)
    up = run_cli(
        "convert", npz, "--overlay", "lfcW1A1", "--out", tmp_path / "u", "--thresholds", "upstream"
    )
    assert up.exit_code == 0
    assert "warning: layer 1 (dense): 5 neurons have batch-norm gamma = 0" in up.stderr
    assert "warning: layer 0 (dense): 2 thresholds saturate the 16-bit range" in up.stderr
    ex = run_cli("convert", npz, "--overlay", "lfcW1A1", "--out", tmp_path / "e")
    assert ex.exit_code == 0 and "warning" not in ex.stderr
    assert "note: layer 1 (dense): 5 neurons have gamma = 0 and a constant output" in ex.stderr


def _one_line_error(result) -> str:
    assert result.exit_code == 2, result.stdout + result.stderr
    assert result.stderr.startswith("bnntool: error: ") and result.stderr.count("\n") == 1
    return result.stderr


BAD_NPZ = {
    "not a zip": lambda p: p.write_bytes(b"this is not a zip file at all"),
    "truncated": lambda p: p.write_bytes(p.read_bytes()[: len(p.read_bytes()) // 2]),
}


@pytest.mark.parametrize("damage", list(BAD_NPZ))
def test_damaged_npz(damage: str, tmp_path: Path, run_cli) -> None:
    npz = npz_for(tmp_path, "lfcW1A1")
    BAD_NPZ[damage](npz)
    message = _one_line_error(
        run_cli("convert", npz, "--overlay", "lfcW1A1", "--out", tmp_path / "p")
    )
    assert str(npz) in message and ("not an .npz" in message or "truncated" in message)
    assert not (tmp_path / "p").exists()


def test_wrong_array_count(tmp_path: Path, run_cli) -> None:
    arrays = layer_arrays(load_overlay("lfcW1A1"), np.random.default_rng(0))[:-1]
    npz = write_npz(tmp_path / "short.npz", arrays)
    message = _one_line_error(
        run_cli("convert", npz, "--overlay", "lfcW1A1", "--out", tmp_path / "p")
    )
    assert "holds 23 arrays, but a lfcW1A1 network has 24" in message


def test_wrong_shape_names_layer_expected_and_actual(tmp_path: Path, run_cli) -> None:
    npz = npz_for(tmp_path, "lfcW1A1", arr_6=np.zeros((1024, 512), dtype=np.float32))
    message = _one_line_error(
        run_cli("convert", npz, "--overlay", "lfcW1A1", "--out", tmp_path / "p")
    )
    assert "layer 1 (dense): arr_6 (W) has shape (1024, 512), expected (1024, 1024)" in message


def test_nan_names_the_array(tmp_path: Path, run_cli) -> None:
    beta = np.zeros(64, dtype=np.float32)
    beta[3] = np.nan
    npz = npz_for(tmp_path, "cnvW1A1", arr_8=beta)
    message = _one_line_error(
        run_cli("convert", npz, "--overlay", "cnvW1A1", "--out", tmp_path / "p")
    )
    assert "layer 1 (conv): arr_8 (beta) has 1 NaN or infinite values" in message


def test_unknown_overlay(tmp_path: Path, run_cli) -> None:
    npz = npz_for(tmp_path, "lfcW1A1")
    message = _one_line_error(
        run_cli("convert", npz, "--overlay", "lfcW2A2", "--out", tmp_path / "p")
    )
    assert "unknown overlay 'lfcW2A2'" in message


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (lambda t: t.replace("pe = 64\n", "", 1), "field layers[1].pe is missing"),
        (lambda t: t.replace("simd = 32", "simd = 48", 1), "simd = 48 does not divide"),
    ],
)
def test_bad_overlay_file(edit, expected: str, tmp_path: Path, run_cli) -> None:
    spec = tmp_path / "mine.toml"
    spec.write_text(edit((REPO / "finnthesizer" / "lfcW1A1.toml").read_text()))
    npz = npz_for(tmp_path, "lfcW1A1")
    message = _one_line_error(run_cli("convert", npz, "--overlay", spec, "--out", tmp_path / "p"))
    assert str(spec) in message and expected in message


def test_more_classes_than_outputs(tmp_path: Path, run_cli) -> None:
    names = tmp_path / "names.txt"
    names.write_text("\n".join(f"c{i}" for i in range(65)))
    npz = npz_for(tmp_path, "lfcW1A1")
    message = _one_line_error(
        run_cli("convert", npz, "--overlay", "lfcW1A1", "--out", tmp_path / "p", "--classes", names)
    )
    assert "65 classes, but overlay lfcW1A1 has 64 outputs" in message


def test_class_count_must_match_the_weights(tmp_path: Path, run_cli) -> None:
    npz = npz_for(tmp_path, "cnvW1A1", classes=43)
    message = _one_line_error(
        run_cli(
            "convert", npz, "--overlay", "cnvW1A1", "--out", tmp_path / "p", "--dataset", "cifar-10"
        )
    )
    assert "10 class names, but the weights have 43 outputs" in message


def test_empty_classes_file(tmp_path: Path, run_cli) -> None:
    (tmp_path / "empty.txt").write_text("\n")
    npz = npz_for(tmp_path, "lfcW1A1")
    message = _one_line_error(
        run_cli(
            "convert",
            npz,
            "--overlay",
            "lfcW1A1",
            "--out",
            tmp_path / "p",
            "--classes",
            tmp_path / "empty.txt",
        )
    )
    assert "classes file" in message and "is empty" in message


def test_nothing_half_written_on_failure(tmp_path: Path, run_cli) -> None:
    npz = npz_for(tmp_path, "lfcW1A1", arr_23=np.full(10, -1.0, dtype=np.float32))  # inv_std < 0
    _one_line_error(
        run_cli("convert", npz, "--overlay", "lfcW1A1", "--out", tmp_path / "out" / "p")
    )
    assert not (tmp_path / "out" / "p").exists()
    assert list((tmp_path / "out").iterdir()) == []


def test_upstream_scripts_run_with_the_compatibility_module(tmp_path: Path, run_cli) -> None:
    """A BNN-PYNQ *-gen-weights-*.py script, with only its import changed, writes the same files
    as `bnntool convert --thresholds upstream`."""
    lfc = npz_for(tmp_path, "lfcW1A2", seed=5)
    cnv = npz_for(tmp_path, "cnvW2A2", seed=6)
    script = tmp_path / "gen.py"
    script.write_text(
        textwrap.dedent(
            f"""
            import bnntool.finnthesizer as fth
            fth.convertFCNetwork({str(lfc)!r}, "lfc", "lfc/hw", [64, 32, 64, 8], [32, 64, 32, 16],
                                 [0] * 4, [0] * 4, [0] * 4, [1] * 4, [2, 2, 2, 1], [1, 2, 2, 2])
            fth.convertFCNetwork({str(npz_for(tmp_path, "lfcW1A1", seed=7))!r}, "old",
                                 [64, 32, 64, 8], [32, 64, 32, 16])
            fth.convertCNVNetwork({str(cnv)!r}, "cnv", "cnv/hw", [3, 16, 16, 16, 8, 8, 2, 2, 1],
                                  [8, 16, 8, 8, 4, 1, 1, 2, 4], [0] * 9, [0] * 9, [7] + [0] * 8,
                                  [2] * 9, [2] * 8 + [16], [1] * 9)
            """
        )
    )
    subprocess.run([sys.executable, str(script)], cwd=tmp_path, check=True, capture_output=True)
    for npz, overlay, folder in (
        (lfc, "lfcW1A2", "lfc"),
        (cnv, "cnvW2A2", "cnv"),
        (tmp_path / "lfcW1A1-7.npz", "lfcW1A1", "old"),
    ):
        ref = tmp_path / f"ref-{folder}"
        assert (
            run_cli(
                "convert", npz, "--overlay", overlay, "--out", ref, "--thresholds", "upstream"
            ).exit_code
            == 0
        )
        bins = sorted(p.name for p in ref.glob("*.bin"))
        assert bins == sorted(p.name for p in (tmp_path / folder).glob("*.bin"))
        for name in bins:
            assert (tmp_path / folder / name).read_bytes() == (ref / name).read_bytes(), name
    config = (tmp_path / "cnv" / "hw" / "config.h").read_text()
    assert "#define L5_WMEM 73728" in config and "#define L8_API 16" in config
