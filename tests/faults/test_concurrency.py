"""Two bnntool commands at once on one data directory (two trainings started together on a
multi-GPU host): they take turns; neither removes the other's files."""

from __future__ import annotations

import time
from pathlib import Path

from bnntool.data.fetch import _locked
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
    with _locked(data, "fashion-mnist", lambda _: None):  # another bnntool is fetching
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
