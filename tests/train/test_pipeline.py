"""`bnntool pipeline` with training: fetch, train, convert, verify, then nothing left to do."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.train.conftest import small_recipe


def test_pipeline_trains_converts_verifies_and_resumes(
    tmp_path: Path, data_dir: Path, shared: Path, run_cli
) -> None:
    recipe = small_recipe(
        tmp_path, epochs=1, overlay="lfcW1A2", extra="[input]\nsize = 16\nlevels = [64, 128, 192]\n"
    )
    args = (
        "pipeline",
        "mnist",
        "--recipe",
        recipe,
        "--out",
        tmp_path / "p",
        "--data-dir",
        data_dir,
        "--mirror",
        shared / "datasets",
        "--limit",
        "2000",
        "--train-limit",
        "5000",
        "--device",
        "cpu",
    )
    first = run_cli(*args, "--seed", "8", "--json")
    assert first.exit_code == 0, first.stderr
    report = json.loads(first.stdout)
    assert [(s["stage"], s["status"]) for s in report["stages"]] == [
        ("fetch", "skipped"),
        ("train", "done"),
        ("convert", "done"),
        ("verify", "done"),
    ]
    against = report["verify"]["against"]
    assert against["agreement"] == 100.0
    assert against["model_accuracy"] > 70  # one epoch on 5000 MNIST images
    manifest = json.loads((tmp_path / "p" / "params" / "manifest.json").read_text())
    assert manifest["input_encoding"]["levels"] == [64, 128, 192]
    run = json.loads((tmp_path / "p" / "run" / "run.json").read_text())
    assert run["seed"] == run["recipe"]["training"]["seed"] == 8  # the recipe says 7
    second = run_cli(*args, "--seed", "8")
    assert second.exit_code == 0, second.stderr
    assert [line.split()[1] for line in second.stdout.splitlines()[:4]] == ["skipped"] * 4
    # The recipe's own seed (7) is another run: refused in one line, the finished run kept.
    other = run_cli(*args)
    assert other.exit_code == 2
    assert "holds a finished run of another recipe" in other.stderr
    assert "Traceback" not in other.stderr
    assert json.loads((tmp_path / "p" / "run" / "run.json").read_text()) == run


@pytest.mark.parametrize(
    "options",
    [
        ("--recipe", "mnist-lfcW1A1"),
        ("--epochs", "2"),
        ("--seed", "3"),
        ("--train-limit", "100"),
        ("--device", "cpu"),
        ("--seed", "3", "--epochs", "2", "--device", "cpu"),
    ],
)
def test_pipeline_refuses_training_options_with_weights(
    tmp_path: Path, run_cli, options: tuple[str, ...]
) -> None:
    npz = tmp_path / "w.npz"
    npz.write_bytes(b"not read")
    result = run_cli(
        "pipeline", "mnist", "--weights", npz, *options, "--out", tmp_path / "out",
        "--data-dir", tmp_path / "data", "--mirror", tmp_path / "no-mirror",
    )  # fmt: skip
    assert result.exit_code == 2, result.stdout + result.stderr
    named = options[0] if len(options) == 2 else "--epochs, --seed and --device"
    assert f"{named} set the training, and --weights {npz} skips it" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists() and not (tmp_path / "data").exists()
