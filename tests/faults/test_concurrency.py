"""Two bnntool commands at once on one data directory (two trainings started together on a
multi-GPU host): they take turns; neither removes the other's files."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

from bnntool.artifacts import folder_lock
from tests.faults.conftest import leftovers, start_bnntool


def _fetch(data: Path, shared: Path):
    return start_bnntool(
        "fetch", "fashion-mnist", "--data-dir", data, "--mirror", shared / "datasets"
    )


def test_a_fetch_waits_for_the_one_before(shared: Path, tmp_path: Path) -> None:
    # found running two trainings at once: one fetch removed the staging folder the other was
    # writing into ("No such file or directory")
    data = tmp_path / "data"
    data.mkdir()
    with folder_lock(data, wait=False):  # another bnntool is fetching
        second = _fetch(data, shared)
        time.sleep(3)
        assert second.poll() is None  # it waits
        assert list(data.iterdir()) == []  # nothing touched while it waits
    _out, err = second.communicate(timeout=300)
    assert second.returncode == 0, err
    assert "fashion-mnist: waiting for another bnntool fetching into" in err


def test_three_fetches_at_once(shared: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"
    runs = [_fetch(data, shared) for _ in range(3)]
    for process in runs:
        _out, err = process.communicate(timeout=300)
        assert process.returncode == 0, err
    assert leftovers(data) == []
    names = [p.name for p in (shared / "datasets" / "fashion-mnist").glob("*.gz")]
    assert sorted(p.name for p in (data / "fashion-mnist").iterdir()) == sorted(
        [".bnntool-verified.json", *names]
    )


def test_two_trainings_into_one_run_folder(tmp_path: Path, data_dir: Path) -> None:
    # review: both exited 0 and the folder held one of the two runs
    from tests.faults.conftest import one_line_error, small_recipe

    recipe = small_recipe(tmp_path, epochs=1)
    run = tmp_path / "run"
    args = ("train", recipe, "--out", run, "--limit", "300", "--data-dir", data_dir)
    first, second = start_bnntool(*args), start_bnntool(*args)
    results = []
    for process in (first, second):
        out, err = process.communicate(timeout=300)
        results.append(subprocess.CompletedProcess(process.args, process.returncode, out, err))
    assert sorted(r.returncode for r in results) == [0, 2], [r.stderr for r in results]
    refused = next(r for r in results if r.returncode == 2)
    message = one_line_error(refused)
    assert f"run folder {run}" in message and (
        "is in use by another bnntool train" in message or "holds a run" in message
    )
    assert (run / "run.json").is_file() and leftovers(run) == []


def test_a_run_killed_before_its_checkpoint_does_not_block_the_folder(
    tmp_path: Path, data_dir: Path, run_cli
) -> None:
    # review: a kill -9 in epoch 1 left .checkpoint.pt.*.partial; the folder could be neither
    # reused nor resumed
    from bnntool.artifacts import _HOST
    from tests.faults.conftest import one_line_error, small_recipe
    from tests.faults.test_convert_out import _dead_pid

    run = tmp_path / "run"
    run.mkdir()
    (run / f".checkpoint.pt.{_HOST}{_dead_pid()}-deadbeef.partial").write_bytes(b"cut")
    recipe = small_recipe(tmp_path, epochs=1)
    ok = run_cli("train", recipe, "--out", run, "--limit", "200", "--data-dir", data_dir)
    assert ok.exit_code == 0, ok.stderr
    assert leftovers(run) == []
    # a weights.npz without a checkpoint (killed between the two writes): said, not guessed
    other = tmp_path / "other"
    other.mkdir()
    (other / "weights.npz").write_bytes((run / "weights.npz").read_bytes())
    message = one_line_error(
        run_cli("train", recipe, "--out", other, "--limit", "200", "--data-dir", data_dir)
    )
    assert "is not empty (weights.npz) and holds no checkpoint to resume" in message
