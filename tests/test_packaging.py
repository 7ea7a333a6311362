"""The wheel: it ships the user-editable folders, and the resolver finds them when installed."""

from __future__ import annotations

import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

from bnntool import __version__
from bnntool.resources import KINDS, list_shipped, shipped_dir
from tests.conftest import REPO


def test_resolver_finds_the_checkout_folders() -> None:
    for kind in KINDS:
        assert shipped_dir(kind) == REPO / kind
    assert "fashion-mnist-lfcW1A1.toml" in [p.name for p in list_shipped("training")]


def test_unknown_kind() -> None:
    with pytest.raises(ValueError, match="unknown resource kind"):
        shipped_dir("docs")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(out),
            str(REPO),
        ],
        check=True,
    )
    (path,) = out.glob("bnntool-*.whl")
    return path


@pytest.mark.slow
def test_wheel_contents(wheel: Path) -> None:
    assert wheel.name == f"bnntool-{__version__}-py3-none-any.whl"
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/")[0] for n in names}
    assert tops == {"bnntool", f"bnntool-{__version__}.dist-info"}  # no top-level training/ etc.
    for recipe in list_shipped("training"):
        assert f"bnntool/_shipped/training/{recipe.name}" in names
    for kind in KINDS:
        assert any(n.startswith(f"bnntool/_shipped/{kind}/") for n in names)
    entry_points = zipfile.ZipFile(wheel).read(f"bnntool-{__version__}.dist-info/entry_points.txt")
    assert b"bnntool = bnntool.cli:main" in entry_points


@pytest.mark.slow
def test_installed_wheel_lists_its_recipes(wheel: Path, tmp_path: Path) -> None:
    env = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(env)
    python = env / "bin" / "python"
    subprocess.run(
        [str(python), "-m", "pip", "install", "--no-deps", "--no-index", "-q", str(wheel)],
        check=True,
    )
    # Run outside the checkout so that nothing but the installed wheel can answer.
    proc = subprocess.run(
        [str(python), "-m", "bnntool.resources", "training"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    )
    folder, *recipes = proc.stdout.splitlines()
    assert Path(folder).is_relative_to(env)
    assert folder.endswith("bnntool/_shipped/training")
    assert recipes == [p.name for p in list_shipped("training")]
    assert "fashion-mnist-lfcW1A1.toml" in recipes
