"""Fixtures shared by every test: the shared data folder and a CLI runner."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

from bnntool.cli import cli

REPO = Path(__file__).resolve().parent.parent


def _shared_root() -> Path:
    return Path(os.environ.get("BNNTOOL_SHARED", REPO.parent / "shared")).resolve()


@pytest.fixture(scope="session")
def shared() -> Path:
    """``../shared``: the real datasets and Xilinx's published fixtures.

    Missing, the tests that need it are skipped, except where ``BNNTOOL_REQUIRE_SHARED=1`` (CI
    sets it) makes that a failure.
    """
    root = _shared_root()
    if not (root / "datasets").is_dir():
        if os.environ.get("BNNTOOL_REQUIRE_SHARED") == "1":
            pytest.fail(f"shared data folder {root} is missing (BNNTOOL_REQUIRE_SHARED=1)")
        pytest.skip(f"shared data folder {root} is not here")
    return root


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test reads the user's cache, mirror or debug settings."""
    for var in ("BNNTOOL_DATA_DIR", "BNNTOOL_MIRROR", "BNNTOOL_DEBUG"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))
    # commands that write beside the working directory (verify's default report) write into the
    # test's own folder, never into the repository
    work = tmp_path.with_name(f"{tmp_path.name}-cwd")  # beside tmp_path, not in it
    work.mkdir(exist_ok=True)
    monkeypatch.chdir(work)


@dataclass
class CliResult:
    exit_code: int
    stdout: str
    stderr: str


@pytest.fixture
def run_cli():
    """Run ``bnntool ARGS`` in-process; returns exit code, stdout and stderr separately."""

    def run(*args: str | os.PathLike[str]) -> CliResult:
        result = CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)
        return CliResult(result.exit_code, result.stdout, result.stderr)

    return run


@pytest.fixture(scope="session")
def upstream(shared: Path) -> Path:
    """../shared/fixtures/upstream: BNN-PYNQ's published parameter folders and test images."""
    return shared / "fixtures" / "upstream"


@pytest.fixture(scope="session")
def mnist_dir(shared: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data directory holding the real MNIST, fetched through the shared mirror folder."""
    data_dir = tmp_path_factory.mktemp("data")
    from bnntool.data import fetch

    fetch("mnist", data_dir, shared / "datasets")
    return data_dir
