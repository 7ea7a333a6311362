"""convert --out: nothing of the user's is ever replaced; nothing half-written is left."""

from __future__ import annotations

import json
import os
import signal
import stat
from pathlib import Path

import pytest

from bnntool.train import load_recipe, train
from tests.faults.conftest import (
    kill,
    leftovers,
    one_line_error,
    small_recipe,
    start_bnntool,
    tree,
    wait_for,
)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> Path:
    """A finished W1A1 training run (real MNIST, a few hundred images)."""
    folder = tmp_path_factory.mktemp("run")
    recipe = load_recipe(small_recipe(folder, epochs=1))
    train(recipe, folder / "run", limit=300, data_dir=data_dir)
    return folder / "run"


def test_force_onto_the_training_run_is_refused(run_dir: Path, run_cli) -> None:
    # case 1: convert RUN --out RUN --force replaced weights.npz, checkpoint.pt, metrics.csv
    before = tree(run_dir)
    message = one_line_error(run_cli("convert", run_dir, "--out", run_dir, "--force"))
    assert f"--out {run_dir} holds the input {run_dir / 'weights.npz'}" in message
    assert tree(run_dir) == before and leftovers(run_dir.parent) == []


def test_force_onto_a_users_folder_is_refused(run_dir: Path, tmp_path: Path, run_cli) -> None:
    # case 1: --force onto any folder deleted whatever was in it
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "thesis.tex").write_text("three years of work")
    message = one_line_error(run_cli("convert", run_dir, "--out", mine, "--force"))
    assert f"--out {mine} exists and is not a folder bnntool wrote" in message
    assert tree(mine) == {"thesis.tex": tree(mine)["thesis.tex"]}
    assert (mine / "thesis.tex").read_text() == "three years of work"


def test_force_replaces_an_earlier_params_folder_but_not_a_users_file_in_it(
    run_dir: Path, tmp_path: Path, run_cli
) -> None:
    out = tmp_path / "params"
    assert run_cli("convert", run_dir, "--out", out).exit_code == 0
    first = json.loads((out / "manifest.json").read_text())["created"]
    again = run_cli("convert", run_dir, "--out", out, "--force", "--thresholds", "upstream")
    assert again.exit_code == 0, again.stderr
    assert json.loads((out / "manifest.json").read_text())["thresholds"] == "upstream"
    assert first  # replaced whole: the new manifest
    (out / "notes.txt").write_text("mine")
    message = one_line_error(run_cli("convert", run_dir, "--out", out, "--force"))
    assert "holds 1 files bnntool did not write there (notes.txt)" in message
    assert (out / "notes.txt").read_text() == "mine"
    assert leftovers(tmp_path) == []


def test_force_onto_another_kind_of_bnntool_folder_is_refused(
    run_dir: Path, tmp_path: Path, run_cli
) -> None:
    bitstream = tmp_path / "bitstream"
    bitstream.mkdir()
    (bitstream / "manifest.json").write_text(json.dumps({"kind": "bitstream", "files": {}}))
    message = one_line_error(run_cli("convert", run_dir, "--out", bitstream, "--force"))
    assert "is a bitstream folder; --force replaces only an earlier bnntool-params output" in (
        message
    )


def test_out_dot_is_refused_in_one_line(
    run_dir: Path, tmp_path: Path, run_cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    # case 2: --out . --force gave "OSError: Device or resource busy" and left ..*.old behind
    here = tmp_path / "here"
    here.mkdir()
    (here / "keep.txt").write_text("x")
    monkeypatch.chdir(here)
    message = one_line_error(run_cli("convert", run_dir, "--out", ".", "--force"))
    assert "--out . is the current folder" in message
    assert sorted(p.name for p in tmp_path.iterdir()) == ["here"]
    assert sorted(p.name for p in here.iterdir()) == ["keep.txt"]


def test_an_empty_folder_is_taken_and_the_result_is_readable_by_others(
    run_dir: Path, tmp_path: Path, run_cli
) -> None:
    # smaller: params folders were created with mode 0700
    out = tmp_path / "empty"
    out.mkdir()
    old = os.umask(0o022)
    try:
        assert run_cli("convert", run_dir, "--out", out).exit_code == 0
    finally:
        os.umask(old)
    assert stat.S_IMODE(out.stat().st_mode) == 0o755
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o644 for p in out.iterdir())


def test_overlay_other_than_the_runs_is_refused(run_dir: Path, tmp_path: Path, run_cli) -> None:
    # case 5: a W1A1 run converted with --overlay lfcW1A2 exited 0 with no warning
    message = one_line_error(
        run_cli("convert", run_dir, "--overlay", "lfcW1A2", "--out", tmp_path / "p")
    )
    assert "was trained for overlay lfcW1A1, but the chosen overlay lfcW1A2 differs" in message
    assert "W1A1 vs" in message and "W1A2" in message
    assert not (tmp_path / "p").exists()
    # the same network with another folding is fine
    folding = tmp_path / "lfc-fast.toml"
    from bnntool.resources import shipped_dir

    text = (shipped_dir("finnthesizer") / "lfcW1A1.toml").read_text()
    folding.write_text(text.replace('name = "lfcW1A1"', 'name = "lfc-fast"'))
    ok = run_cli("convert", run_dir, "--overlay", folding, "--out", tmp_path / "p")
    assert ok.exit_code == 0, ok.stderr


def test_a_killed_convert_leaves_nothing_for_the_next(
    run_dir: Path, tmp_path: Path, run_cli
) -> None:
    # case 11: SIGKILL left .params.*.partial (64 files) that the next convert did not clean
    out = tmp_path / "params"
    process = start_bnntool("convert", run_dir, "--out", out)
    wait_for(lambda: any(".partial" in p.name for p in tmp_path.iterdir()), process, "a partial")
    kill(process, signal.SIGKILL)
    assert process.returncode == -signal.SIGKILL
    assert [p for p in tmp_path.iterdir() if ".partial" in p.name]  # what the kill left
    result = run_cli("convert", run_dir, "--out", out)
    assert result.exit_code == 0, result.stderr
    assert leftovers(tmp_path) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["params"]


def test_a_replaced_folder_comes_back_after_a_kill_between_the_renames(
    run_dir: Path, tmp_path: Path, run_cli
) -> None:
    # the one moment a folder is away: renamed to .NAME.PID-TOKEN.old; a kill just then
    out = tmp_path / "params"
    assert run_cli("convert", run_dir, "--out", out).exit_code == 0
    before = tree(out)
    from bnntool.artifacts import _HOST  # leftovers carry the host that made them

    dead = _dead_pid()
    out.rename(tmp_path / f".params.{_HOST}{dead}-0123abcd.old")
    (tmp_path / f".params.{_HOST}{dead}-4567cdef.partial").mkdir()
    result = run_cli("verify", out, "--dataset", "mnist", "--limit", "1")
    assert result.exit_code == 2  # not there: verify does not repair
    assert run_cli("convert", run_dir, "--out", tmp_path / "other").exit_code == 0
    assert not out.exists()  # only a write to the same destination puts it back
    message = one_line_error(run_cli("convert", run_dir, "--out", out))
    assert "output folder" in message and "exists" in message  # it came back, as it was
    assert tree(out) == before and leftovers(tmp_path) == []


def _dead_pid() -> int:
    pid = 999_999
    while True:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return pid
        except PermissionError:
            pass
        pid -= 1
