"""A full disk or a read-only one: one line naming the file, nothing half-written left behind
(case 7 of the fault sweep). The disks are real tmpfs mounts (root only; CI runs as root)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bnntool.train import load_recipe, train
from tests.faults.conftest import leftovers, one_line_error, small_recipe, tree


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> Path:
    folder = tmp_path_factory.mktemp("run")
    train(load_recipe(small_recipe(folder, epochs=1)), folder / "run", limit=200, data_dir=data_dir)
    return folder / "run"


def test_train_onto_a_full_disk(small_disk, tmp_path: Path, data_dir: Path, run_cli) -> None:
    # was: 61 lines of traceback and a 600 kB .weights.npz.partial left filling the disk
    recipe = small_recipe(tmp_path, epochs=1)
    with small_disk(600) as disk:
        out = disk / "run"
        message = one_line_error(
            run_cli("train", recipe, "--out", out, "--limit", "200", "--data-dir", data_dir)
        )
        assert f"cannot write {out / 'weights.npz'}: No space left on device" in message
        assert tree(disk) == {} and list(disk.iterdir()) == []


def test_train_when_the_disk_fills_after_a_checkpoint(
    small_disk, tmp_path: Path, data_dir: Path, run_cli
) -> None:
    # room for one epoch's files but not a second weights.npz beside them: the run stays
    # resumable and the message says how
    recipe = load_recipe(small_recipe(tmp_path, epochs=3))
    probe = tmp_path / "probe"
    train(recipe, probe, limit=200, data_dir=data_dir, stop_after=1)
    need = sum(p.stat().st_size for p in probe.iterdir())
    with small_disk(need // 1024 + 64) as disk:
        out = disk / "run"
        message = one_line_error(
            run_cli(
                "train",
                small_recipe(tmp_path, epochs=3),
                "--out",
                out,
                "--limit",
                "200",
                "--data-dir",
                data_dir,
            )
        )
        assert "No space left on device" in message
        assert message.endswith(f"then resume with: bnntool train --resume {out}")
        assert leftovers(disk) == [] and (out / "checkpoint.pt").is_file()


def test_train_onto_a_read_only_disk(read_only_disk: Path, tmp_path: Path, run_cli) -> None:
    out = read_only_disk / "run"
    message = one_line_error(run_cli("train", small_recipe(tmp_path), "--out", out))
    assert f"cannot write {out}: Read-only file system" in message


def test_convert_onto_a_full_disk(small_disk, run_dir: Path, run_cli) -> None:
    with small_disk(100) as disk:
        message = one_line_error(run_cli("convert", run_dir, "--out", disk / "params"))
        assert "No space left on device" in message and str(disk) in message
        assert list(disk.iterdir()) == []


def test_fetch_onto_a_full_disk(small_disk, shared: Path, run_cli) -> None:
    with small_disk(600) as disk:
        message = one_line_error(
            run_cli("fetch", "mnist", "--data-dir", disk, "--mirror", shared / "datasets")
        )
        assert f"cannot write {disk / 'mnist'}/" in message and "No space left" in message
        assert "nothing of it was kept" in message
        assert list(disk.iterdir()) == []


def test_verify_report_onto_a_full_disk(
    small_disk, run_dir: Path, tmp_path: Path, data_dir: Path, run_cli
) -> None:
    assert run_cli("convert", run_dir, "--out", tmp_path / "p").exit_code == 0
    with small_disk(8) as disk:
        report = disk / "v.json"
        message = one_line_error(
            run_cli(
                "verify",
                tmp_path / "p",
                "--dataset",
                "mnist",
                "--data-dir",
                data_dir,
                "--report",
                report,
            )
        )
        assert "No space left on device" in message and "--report" in message
        assert leftovers(disk) == []
