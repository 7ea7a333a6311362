"""verify and pipeline as CI gates: --min-accuracy and --min-agreement end with exit code 3 when
missed, after the report is written and printed; JSON carries the gates."""

from __future__ import annotations

import json
from pathlib import Path


def test_verify_gates_on_xilinx_folder(upstream: Path, mnist_dir: Path, tmp_path: Path, run_cli):
    folder = upstream / "params" / "mnist" / "lfcW1A1"  # 98.40 % on the full test set
    args = ("verify", folder, "--dataset", "mnist", "--data-dir", mnist_dir)
    passed = run_cli(*args, "--min-accuracy", "98.4", "--json", "--report", tmp_path / "a.json")
    assert passed.exit_code == 0, passed.stderr
    gates = json.loads(passed.stdout)["gates"]
    assert gates["passed"] is True and gates["accuracy"] == 98.4 and gates["missed"] == []
    missed = run_cli(*args, "--min-accuracy", "98.41", "--report", tmp_path / "b.json")
    assert missed.exit_code == 3
    assert missed.stdout.startswith("lfcW1A1 on mnist test: 98.40%")  # the report came first
    assert missed.stderr.strip() == (
        f"bnntool: error: gate missed on {folder}: accuracy 98.40% < --min-accuracy 98.41"
    )
    saved = json.loads((tmp_path / "b.json").read_text())["gates"]
    assert saved["passed"] is False and saved["min_accuracy"] == 98.41


def test_min_agreement_needs_against(upstream: Path, mnist_dir: Path, run_cli) -> None:
    folder = upstream / "params" / "mnist" / "lfcW1A1"
    r = run_cli(
        "verify", folder, "--dataset", "mnist", "--data-dir", mnist_dir, "--min-agreement", "100"
    )
    assert r.exit_code == 2 and "--min-agreement needs --against" in r.stderr
    r = run_cli("verify", folder, "--dataset", "mnist", "--min-accuracy", "101")
    assert r.exit_code == 2 and "101" in r.stderr


def test_pipeline_gates(upstream: Path, mnist_dir: Path, tmp_path: Path, run_cli) -> None:
    # Xilinx's own trained weights are not published as .npz; a bnntool-converted folder of a
    # fake network is gated by agreement (100 % with exact thresholds) and accuracy (~chance)
    import numpy as np

    from bnntool.overlay import load_overlay
    from tests.convert.fakes import layer_arrays, write_npz

    npz = write_npz(
        tmp_path / "w.npz", layer_arrays(load_overlay("lfcW1A1"), np.random.default_rng(1))
    )
    common = (
        "pipeline", "mnist", "--weights", npz, "--out", tmp_path / "out", "--data-dir", mnist_dir,
        "--limit", "500", "--min-agreement", "100",
    )  # fmt: skip
    ok = run_cli(*common, "--json")
    assert ok.exit_code == 0, ok.stderr
    assert json.loads(ok.stdout)["verify"]["gates"]["passed"] is True
    missed = run_cli(*common, "--min-accuracy", "90")  # verify is up to date: skipped, still gated
    assert missed.exit_code == 3, missed.stderr
    assert "verify   skipped" in missed.stdout
    assert "accuracy" in missed.stderr and "< --min-accuracy 90" in missed.stderr
