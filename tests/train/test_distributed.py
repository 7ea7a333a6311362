"""Two CPU processes (torch.distributed, gloo) train one run and end with the same weights."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.train.conftest import small_recipe


@pytest.mark.slow
def test_two_processes_end_with_the_same_weights(tmp_path: Path, data_dir: Path) -> None:
    recipe = small_recipe(tmp_path, epochs=2)
    out = tmp_path / "run"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            "--nproc_per_node=2",
            "-m",
            "bnntool",
            "train",
            str(recipe),
            "--out",
            str(out),
            "--limit",
            "400",
            "--device",
            "cpu",
            "--data-dir",
            str(data_dir),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    digests = {p.name: p.read_text() for p in (out / "ranks").iterdir()}
    assert sorted(digests) == ["rank0.sha256", "rank1.sha256"]
    assert digests["rank0.sha256"] == digests["rank1.sha256"]
    assert (out / "weights.npz").is_file() and (out / "run.json").is_file()
    assert '"processes": 2' in (out / "run.json").read_text()


def test_gpus_is_taken_out_of_the_command_line_by_position() -> None:
    # review: `train --epochs 2 mnist --gpus 2` became `train --epochs mnist 2`
    from bnntool.train.launch import _without_gpus

    assert _without_gpus(["train", "--epochs", "2", "mnist", "--gpus", "2"]) == [
        "train", "--epochs", "2", "mnist",
    ]  # fmt: skip
    assert _without_gpus(["train", "mnist", "--gpus=4", "--out=runs/x"]) == [
        "train", "mnist", "--out=runs/x",
    ]  # fmt: skip
