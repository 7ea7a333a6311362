"""The first run, README.md followed literally: run again after a reinstall, export the
pipeline's folder, output that explains itself (cases 12, 14, 17 and tidy numbers)."""

from __future__ import annotations

import csv
import json
import re
import shutil
from pathlib import Path

import pytest

from tests.faults.conftest import bnntool, one_line_error, small_recipe

NOISE = re.compile(r"\d\.\d{13,}")  # 82.19999999999999: binary noise, not a measurement


@pytest.fixture(scope="module")
def pipeline_out(tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> tuple[Path, Path]:
    """A finished pipeline of a small recipe, read from one install's recipe file."""
    folder = tmp_path_factory.mktemp("pipe")
    first = folder / "site-packages" / "training"
    first.mkdir(parents=True)
    recipe = small_recipe(first, epochs=1)
    out = folder / "out"
    result = bnntool(
        "pipeline", "mnist", "--recipe", recipe, "--out", out, "--train-limit", "300",
        "--limit", "200", "--data-dir", data_dir, "--device", "cpu",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return out, recipe


def test_the_pipeline_runs_again_after_a_reinstall(
    pipeline_out: tuple[Path, Path], tmp_path: Path, data_dir: Path
) -> None:
    # case 12: run.json kept the recipe's file path, which changed with `pip install -e`: the
    # second run failed with "holds a run of another recipe or settings"
    out, recipe = pipeline_out
    moved = tmp_path / "checkout" / "training" / recipe.name
    moved.parent.mkdir(parents=True)
    shutil.copy(recipe, moved)
    again = bnntool(
        "pipeline", "mnist", "--recipe", moved, "--out", out, "--train-limit", "300",
        "--limit", "200", "--data-dir", data_dir,
    )  # fmt: skip
    assert again.returncode == 0, again.stderr
    stages = dict(line.split()[:2] for line in again.stdout.splitlines()[:4])
    assert stages == {"fetch": "skipped", "train": "skipped", "convert": "skipped",
                      "verify": "skipped"}  # fmt: skip
    # another recipe in the same --out is refused, naming what differs
    other = tmp_path / "other.toml"
    other.write_text(moved.read_text().replace("seed = 3", "seed = 4"))
    message = one_line_error(
        bnntool(
            "pipeline",
            "mnist",
            "--recipe",
            other,
            "--out",
            out,
            "--train-limit",
            "300",
            "--data-dir",
            data_dir,
        )
    )
    assert f"{out / 'run'} holds a finished run of another recipe" in message


def test_export_takes_the_pipelines_folder(pipeline_out: tuple[Path, Path], run_cli) -> None:
    # case 14: export refused the pipeline's own output folder without pointing at run/
    out, _ = pipeline_out
    result = run_cli("export", out, "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["path"] == str(out / "run" / "model.qonnx.onnx")
    assert (out / "run" / "model.qonnx.onnx").stat().st_size > 0


def test_export_of_an_unfinished_run_says_how_to_finish(tmp_path: Path, run_cli) -> None:
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "checkpoint.pt").write_bytes(b"x")
    message = one_line_error(run_cli("export", tmp_path))
    assert "has not finished" in message and "--resume" in message


def test_the_output_explains_itself(tmp_path: Path, data_dir: Path, run_cli) -> None:
    # case 17: every epoch line ended in "*" with nothing saying what it meant
    result = run_cli(
        "train", small_recipe(tmp_path, epochs=2), "--out", tmp_path / "run", "--limit", "300",
        "--data-dir", data_dir,
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    lines = result.stderr.splitlines()
    assert lines[0].startswith("test: the board's read-out (the highest set class bit)")
    assert "no validation split: weights.npz holds the last epoch" in lines[0]
    epochs = [line for line in lines if line.startswith("epoch ")]
    assert len(epochs) == 2 and not any(line.endswith("*") for line in epochs)
    assert all("(argmax " in line for line in epochs)
    run = json.loads((tmp_path / "run" / "run.json").read_text())
    assert run["test_accuracy_means"].startswith("the board's read-out")


def test_json_and_csv_carry_no_binary_noise(
    pipeline_out: tuple[Path, Path], tmp_path: Path, data_dir: Path, run_cli
) -> None:
    # smaller: JSON and CSV carried floats like 82.19999999999999
    out, _ = pipeline_out
    verify = run_cli(
        "verify", out / "params", "--dataset", "mnist", "--data-dir", data_dir, "--limit", "123",
        "--json", "--report", tmp_path / "r.json",
    )  # fmt: skip
    assert verify.exit_code == 0, verify.stderr
    texts = {
        "verify --json": verify.stdout,
        "report": (tmp_path / "r.json").read_text(),
        "run.json": (out / "run" / "run.json").read_text(),
        "metrics.csv": (out / "run" / "metrics.csv").read_text(),
        "verify.json": (out / "verify.json").read_text(),
    }
    for name, text in texts.items():
        assert not NOISE.search(text), f"{name}: {NOISE.search(text).group()}"
    rows = list(csv.DictReader((out / "run" / "metrics.csv").open()))
    assert float(rows[0]["test_accuracy"]) > 0


def test_the_pipeline_does_not_gate_an_edited_folder(
    pipeline_out: tuple[Path, Path], tmp_path: Path, data_dir: Path
) -> None:
    # review: a params .bin edited after the pipeline ran was skipped as "up to date" and gated
    out, recipe = pipeline_out
    copy = tmp_path / "out"
    shutil.copytree(out, copy)
    target = copy / "params" / "0-0-weights.bin"
    target.write_bytes(bytes(64) + target.read_bytes()[64:])
    again = bnntool(
        "pipeline", "mnist", "--recipe", recipe, "--out", copy, "--train-limit", "300",
        "--limit", "200", "--data-dir", data_dir, "--min-agreement", "100",
    )  # fmt: skip
    assert again.returncode == 0, again.stderr
    stages = dict(line.split()[:2] for line in again.stdout.splitlines()[:4])
    assert stages["convert"] == "done" and stages["verify"] == "done"
    assert target.read_bytes()[:64] != bytes(64)


def test_out_inside_the_image_folder_is_refused(tmp_path: Path, run_cli) -> None:
    # review: the run folder became a class of the next training
    from PIL import Image

    photos = tmp_path / "photos"
    for name in ("cats", "dogs"):
        (photos / name).mkdir(parents=True)
        for i in range(3):
            Image.new("L", (28, 28), 40 * i).save(photos / name / f"{i}.png")
    recipe = tmp_path / "mine.toml"
    recipe.write_text(
        f'name = "mine"\ndataset = "{photos}"\noverlay = "lfcW1A1"\n[training]\nepochs = 1\n'
    )
    message = one_line_error(run_cli("train", recipe, "--out", photos / "run1"))
    assert f"--out {photos / 'run1'} is inside the image folder {photos}" in message
    assert sorted(p.name for p in photos.iterdir()) == ["cats", "dogs"]


def test_a_bare_bnntool_shows_its_help() -> None:
    # review: a plain `bnntool` printed its help as an error, exit 2
    result = bnntool()
    assert result.returncode == 0 and result.stdout.startswith("Usage: bnntool [OPTIONS]")
    assert result.stderr == ""
