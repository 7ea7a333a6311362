"""The fault sweep: bad inputs and failing environments, run as a user runs bnntool.

Each test asserts what a user would check: the exit code, one line naming the file, option or
host and what to do, and that nothing of theirs was lost and nothing half-written was left.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from bnntool.data import fetch

REPO = Path(__file__).resolve().parents[2]


def one_line_error(result, *, code: int = 2) -> str:
    """The one error line of a failed command: the last on stderr (progress lines may come
    before it), the only one from bnntool, no traceback."""
    out = result.stdout if isinstance(result.stdout, str) else result.stdout.decode()
    err = result.stderr if isinstance(result.stderr, str) else result.stderr.decode()
    code_seen = getattr(result, "exit_code", getattr(result, "returncode", None))
    assert code_seen == code, f"exit {code_seen}, expected {code}\n{out}\n{err}"
    lines = [line for line in err.splitlines() if line.strip()]
    said = [line for line in lines if line.startswith("bnntool: ")]
    assert len(said) == 1 and lines[-1] == said[0], f"expected one error line, got:\n{err}"
    assert "Traceback" not in err and "Error:" not in err.replace("bnntool: error:", "")
    return said[0]


def tree(folder: Path) -> dict[str, str]:
    """Every file below ``folder`` (hidden ones too) with its sha256: what was there."""
    if not folder.exists():
        return {}
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def leftovers(folder: Path) -> list[str]:
    """Names of temporary files or folders (bnntool's ``.NAME.PID-TOKEN.partial|old``, or any
    other ``partial``) below ``folder``."""
    return sorted(
        str(p.relative_to(folder))
        for p in folder.rglob("*")
        if ".partial" in p.name or p.name.endswith(".old") or "staging" in p.name
    )


@pytest.fixture(scope="session")
def data_dir(shared: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The real MNIST and Fashion-MNIST, fetched through the shared mirror folder."""
    folder = tmp_path_factory.mktemp("data")
    for name in ("mnist", "fashion-mnist"):
        fetch(name, folder, shared / "datasets")
    return folder


def small_recipe(folder: Path, *, epochs: int = 2, overlay: str = "lfcW1A1", **training) -> Path:
    """A recipe that trains in seconds on real MNIST."""
    settings = {"epochs": epochs, "batch_size": 100, "lr": 0.003, "validation": 0, "seed": 3}
    settings.update(training)
    lines = "\n".join(f"{k} = {v!r}".replace("'", '"') for k, v in settings.items())
    path = folder / "small.toml"
    path.write_text(
        f'name = "small"\ndataset = "mnist"\noverlay = "{overlay}"\n[training]\n{lines}\n'
    )
    return path


def bnntool(*args: object, cwd: Path | None = None, **kw) -> subprocess.CompletedProcess:
    """Run the real ``bnntool`` command in its own process."""
    return subprocess.run(
        [sys.executable, "-m", "bnntool", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=_env(),
        timeout=kw.pop("timeout", 600),
        **kw,
    )


def start_bnntool(*args: object) -> subprocess.Popen:
    """Start the real ``bnntool`` as a terminal would: Ctrl-C (SIGINT) at its default even where
    this test runs in a background job, which ignores SIGINT (and Python would inherit that)."""
    return subprocess.Popen(
        [sys.executable, "-m", "bnntool", *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(),
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BNNTOOL_")}
    env["PYTHONPATH"] = str(REPO)
    return env


def wait_for(condition: Callable[[], bool], process: subprocess.Popen, what: str) -> None:
    """Poll until ``condition`` holds; fail if the process ends first."""
    deadline = time.monotonic() + 300
    while not condition():
        if process.poll() is not None:
            _out, err = process.communicate()
            pytest.fail(f"bnntool ended (exit {process.returncode}) before {what}:\n{err}")
        if time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.02)


def kill(process: subprocess.Popen, sig: int = signal.SIGKILL) -> tuple[str, str]:
    process.send_signal(sig)
    return process.communicate(timeout=120)


@contextlib.contextmanager
def _mounted(path: Path, options: str) -> Iterator[Path]:
    path.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0:
        pytest.skip("a small or read-only disk needs root to mount a tmpfs (CI runs as root)")
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)], capture_output=True, text=True
    )
    if done.returncode != 0:
        if os.environ.get("BNNTOOL_REQUIRE_SHARED") == "1":
            pytest.fail(f"cannot mount a tmpfs here: {done.stderr.strip()}")
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


@pytest.fixture
def small_disk(tmp_path: Path) -> Callable[[int], contextlib.AbstractContextManager[Path]]:
    """``with small_disk(kilobytes) as folder``: a tmpfs of that size (a disk that fills up)."""
    return lambda kb: _mounted(tmp_path / f"disk{kb}k", f"size={kb}k,mode=0755")


@pytest.fixture
def read_only_disk(tmp_path: Path) -> Iterator[Path]:
    with _mounted(tmp_path / "ro", "ro,size=64k") as folder:
        yield folder
