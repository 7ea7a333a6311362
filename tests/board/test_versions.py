"""The board's Python and NumPy are checked before setup installs the runtime and when the runtime
starts. An old board is played by this test run's Python with a sitecustomize (on the sshd's
PYTHONPATH) that makes it report Python 3.8.10, and by a stand-in numpy package."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bnntool.board import bundle
from bnntool.errors import UserError

OLD_PYTHON = "import sys\nsys.version_info = (3, 8, 10, 'final', 0)\n"


def _one_error(result, *needles: str) -> str:
    assert result.exit_code == 2, (result.exit_code, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("bnntool: error: "), result.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


def _fake_site(folder: Path, *, python: bool = False, numpy: str | None = None) -> Path:
    """A PYTHONPATH folder: an 'old' Python and/or a numpy package of version ``numpy``
    (``"missing"``: one whose import fails)."""
    folder.mkdir(parents=True)
    if python:
        (folder / "sitecustomize.py").write_text(OLD_PYTHON)
    if numpy is not None:
        (folder / "numpy").mkdir()
        body = (
            "raise ImportError('No module named numpy')\n"
            if numpy == "missing"
            else f"__version__ = {numpy!r}\n"
        )
        (folder / "numpy" / "__init__.py").write_text(body)
    return folder


@pytest.mark.parametrize(
    ("python", "numpy", "needle"),
    [
        ("3.8.10", "1.21.5", "is Python 3.8.10"),
        ("3.9.2", "1.26.4", "is Python 3.9.2"),
        ("3.10.4", None, "has no NumPy"),
        ("3.10.4", "1.19.5", "has NumPy 1.19.5"),
        ("3.10.4", "1.17.0rc1", "has NumPy 1.17.0rc1"),
    ],
)
def test_check_versions_refuses(python: str, numpy: str | None, needle: str) -> None:
    with pytest.raises(UserError) as e:
        bundle.check_versions("pynq", python, numpy, "/usr/bin/python3")
    message = str(e.value)
    assert message.startswith("pynq: /usr/bin/python3 ") and needle in message
    assert "Python >= 3.10 and NumPy >= 1.20" in message and "\n" not in message


@pytest.mark.parametrize(
    ("python", "numpy"), [("3.10.4", "1.21.5"), ("3.10.0", "1.20.0"), ("3.12.1", "2.1.0.dev0")]
)
def test_check_versions_accepts(python: str, numpy: str) -> None:
    bundle.check_versions("pynq", python, numpy)


@pytest.mark.parametrize(
    ("site", "needle"),
    [
        ({"python": True}, "is Python 3.8.10"),
        ({"numpy": "1.19.5"}, "has NumPy 1.19.5"),
        ({"numpy": "missing"}, "has no NumPy"),
    ],
)
def test_setup_refuses_an_old_board(
    run_cli, start_board, tmp_path: Path, site: dict, needle: str
) -> None:
    board = start_board("old", pythonpath=_fake_site(tmp_path / "site", **site))
    _one_error(
        run_cli("board", "setup", "--host", "old"),
        "old: ",
        needle,
        "needs Python >= 3.10 and NumPy >= 1.20",
    )
    assert not board.root.exists()  # nothing installed


def test_runtime_start_refuses_an_old_python(
    run_cli, start_board, upstream: Path, tmp_path: Path
) -> None:
    """The board's interpreter changed after setup: the runtime says so in one line."""
    board = start_board("old", pythonpath=_fake_site(tmp_path / "site", python=True))
    source = upstream / "params" / "mnist" / "lfcW1A1"
    assert run_cli("deploy", source, "--host", "old").exit_code == 0  # the agent runs on 3.6+
    data, sha = bundle.built()  # as setup left it, before the interpreter changed
    (board.root / "bnntool-board.pyz").write_bytes(data)
    (board.root / "bnntool-board.pyz.sha256").write_text(sha + "\n")
    image = tmp_path / "digit.png"
    from PIL import Image

    Image.new("L", (28, 28)).save(image)
    _one_error(
        run_cli("infer", "--host", "old", "--params", "mnist/lfcW1A1", image),
        "old: the board runtime needs Python >= 3.10 and NumPy >= 1.20",
        "has Python 3.8.10",
    )


@pytest.mark.parametrize(("site", "needle"), [({"numpy": "1.19.5"}, "NumPy 1.19.5")])
def test_runtime_main_checks_numpy(tmp_path: Path, site: dict, needle: str) -> None:
    pyz = tmp_path / "b.pyz"
    pyz.write_bytes(bundle.build())
    path = _fake_site(tmp_path / "site", **site)
    out = subprocess.run(
        [sys.executable, str(pyz), "version"],
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(path), "HOME": str(tmp_path), "PATH": "/usr/bin:/bin"},
        cwd=tmp_path,
    )
    assert out.returncode == 3 and out.stdout == ""
    assert out.stderr.startswith("bnntool-board: error: the board runtime needs Python >= 3.10")
    assert needle in out.stderr and len(out.stderr.splitlines()) == 1
    shutil.rmtree(path)
