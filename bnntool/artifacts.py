"""Artefacts: files and folders written whole or not at all, each folder with a manifest.json.

Every file bnntool writes goes to a temporary name beside its destination (``.NAME.PID-TOKEN
.partial``) and is renamed into place when complete; a folder is assembled the same way and
replaces an existing one only if bnntool made that one for the same kind of output. Leftovers of
a process that was killed (its PID no longer runs) are removed, or for a folder that was being
replaced, put back, by the next write to the same destination.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import math
import os
import re
import secrets
import shutil
import signal
import socket
import threading
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Any

from bnntool import __version__
from bnntool.errors import UserError, WriteError

MANIFEST = "manifest.json"
_LEFTOVER = re.compile(
    r"^\.(?P<name>.+)\.(?P<host>[0-9a-f]{4})(?P<pid>\d+)-(?P<token>[0-9a-f]{8})\.(?P<what>partial|old)$"
)
# the host, in temporary names: a shared disk's leftovers are judged only by the host that made them
_HOST = hashlib.sha256(socket.gethostname().encode()).hexdigest()[:4]
_ACTIVE: set[str] = set()  # this process's temporary names in use (its PID may be a dead one's)


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


# ---------------------------------------------------------------------------------------------
# Numbers as people read them


def tidy(value: Any) -> Any:
    """``value`` with every float rounded to 12 significant digits (82.19999999999999 -> 82.2),
    so that JSON and CSV show what was computed, not binary noise; non-finite floats -> None."""
    if isinstance(value, float):
        return float(f"{value:.12g}") if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: tidy(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [tidy(v) for v in value]
    return value


# ---------------------------------------------------------------------------------------------
# Files


def write_error(path: Path, e: OSError, hint: str = "") -> WriteError:
    """A failed write as one line naming the file and what to do."""
    reason = e.strerror or str(e)
    if e.errno in (errno.ENOSPC, errno.EDQUOT):
        hint = hint or "free space there or write elsewhere"
    elif e.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        hint = hint or "write somewhere you may write"
    return WriteError(f"cannot write {path}: {reason}" + (f"; {hint}" if hint else ""))


def _temp_name(dest: Path, what: str) -> Path:
    name = f".{dest.name}.{_HOST}{os.getpid()}-{secrets.token_hex(4)}.{what}"
    _ACTIVE.add(name)
    return dest.with_name(name)


def _stale(match: re.Match[str]) -> bool:
    """Whether a leftover's writer is gone: made on this host, by a process no longer running
    (or by this PID in an earlier life: a name this process is not using)."""
    if match["host"] != _HOST:
        return False
    pid = int(match["pid"])
    if pid == os.getpid():
        return match.group(0) not in _ACTIVE
    return not _alive(pid)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def clean_leftovers(dest: Path) -> list[Path]:
    """Remove what a killed bnntool process left beside ``dest`` while writing it: partial files
    and folders are deleted; a previous ``dest`` that was being replaced is put back if ``dest``
    is missing. Only names of bnntool's own pattern, of processes that no longer run."""
    dest = Path(os.path.abspath(dest))
    removed: list[Path] = []
    try:
        entries = list(dest.parent.iterdir())
    except OSError:
        return removed
    for entry in sorted(entries, key=lambda p: p.name.endswith(".partial")):
        match = _LEFTOVER.match(entry.name)
        if not match or match["name"] != dest.name or not _stale(match):
            continue
        with contextlib.suppress(OSError):
            if match["what"] == "old" and not os.path.lexists(dest):
                os.replace(entry, dest)  # the replaced folder comes back: nothing is lost
                continue
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
            removed.append(entry)
    return removed


@contextlib.contextmanager
def signals_held() -> Iterator[None]:
    """Hold Ctrl-C and SIGTERM back while the block runs (a few file operations that must not
    be cut in half); one that arrived is acted on as the block ends. Main thread only."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []
    previous = {
        s: signal.signal(s, lambda signum, _frame: received.append(signum))
        for s in (signal.SIGINT, signal.SIGTERM)
    }
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler if handler is not None else signal.SIG_DFL)
        if received:
            signal.raise_signal(received[0])  # now to the handler that was there before


@contextlib.contextmanager
def atomic_file(path: str | os.PathLike[str], mode: str = "wb", hint: str = "") -> Iterator[IO]:
    """Open a temporary file beside ``path``; it becomes ``path`` when the block succeeds. On
    any error it is removed, and a failed write is a :class:`UserError` naming ``path``. A
    symlink is followed: its target is replaced, the link stays."""
    path = Path(os.path.realpath(path)) if os.path.islink(path) else Path(path)
    clean_leftovers(path)
    tmp = _temp_name(path, "partial")
    try:
        with open(tmp, mode) as f:
            yield f
            f.flush()
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException as e:
        with contextlib.suppress(OSError):
            tmp.unlink()
        if isinstance(e, OSError):
            raise write_error(path, e, hint) from None
        raise
    finally:
        _ACTIVE.discard(tmp.name)


def write_bytes(path: str | os.PathLike[str], data: bytes, hint: str = "") -> None:
    with atomic_file(path, "wb", hint) as f:
        f.write(data)


def write_text(path: str | os.PathLike[str], text: str, hint: str = "") -> None:
    with atomic_file(path, "w", hint) as f:
        f.write(text)


def write_json(path: str | os.PathLike[str], value: Any, hint: str = "") -> None:
    write_text(path, json.dumps(tidy(value), indent=2, ensure_ascii=False) + "\n", hint)


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


# ---------------------------------------------------------------------------------------------
# Folders


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def _refuse_unsafe(dest: Path, option: str) -> None:
    cwd = Path(os.getcwd()).resolve()
    real = Path(os.path.abspath(dest)).resolve()
    if _inside(cwd, real):
        raise UserError(
            f"{option} {dest} is the current folder or holds it; bnntool writes a folder whole "
            f"and would have to replace it: choose a new folder, e.g. {option} params"
        )
    if real == Path(real.anchor) or real == Path.home().resolve():
        raise UserError(f"{option} {dest} is not a folder bnntool may replace; choose a new one")


def check_replaceable(dest: Path, kind: str | None, option: str = "--out") -> None:
    """``--force`` replaces only a folder that bnntool made for the same kind of output and that
    holds nothing else: its manifest says so and lists every other file in it."""
    manifest = read_manifest(dest, quiet=True)
    made = (manifest or {}).get("kind")
    if manifest is None or made is None or (kind is not None and made != kind):
        what = f"a {made} folder" if made else "not a folder bnntool wrote"
        raise UserError(
            f"{option} {dest} exists and is {what}; --force replaces only an earlier "
            f"{kind or 'bnntool'} output: choose another {option}"
        )
    listed = set(manifest.get("files", {})) | {MANIFEST}
    foreign = sorted(
        str(p.relative_to(dest))
        for p in dest.rglob("*")
        if (p.is_file() or p.is_symlink()) and str(p.relative_to(dest)) not in listed
    )
    if foreign:
        shown = ", ".join(foreign[:3]) + (" ..." if len(foreign) > 3 else "")
        raise UserError(
            f"{option} {dest} holds {len(foreign)} files bnntool did not write there ({shown}); "
            f"--force will not delete them: move them or choose another {option}"
        )


@contextlib.contextmanager
def output_folder(
    dest: str | os.PathLike[str],
    *,
    force: bool,
    kind: str | None = None,
    inputs: tuple[Path, ...] = (),
    option: str = "--out",
) -> Iterator[Path]:
    """Yield a fresh temporary folder; when the block succeeds its contents become ``dest``.

    A new ``dest`` is the temporary folder renamed. An existing empty ``dest`` (a mount point,
    a folder with its own mode or group) is kept and filled: the files are assembled in a hidden
    folder inside it and moved up at the end. A non-empty ``dest`` is replaced only with
    ``force``, only if bnntool wrote it as a ``kind`` folder (:func:`check_replaceable`) and
    never if it holds one of ``inputs``. A symlink to a folder is followed. On any error nothing
    is left and nothing replaced."""
    shown = Path(dest)
    dest = Path(os.path.abspath(dest))
    if dest.is_symlink() and dest.is_dir():
        dest = Path(os.path.realpath(dest))
    if dest.exists() and not dest.is_dir():
        raise UserError(f"{option} {shown} is a file, not a folder; choose another {option}")
    _refuse_unsafe(shown, option)
    for source in inputs:
        if _inside(Path(os.path.abspath(source)).resolve(), dest.resolve()):
            raise UserError(
                f"{option} {shown} holds the input {source}; writing there would replace it: "
                f"choose another {option}"
            )
    clean_leftovers(dest)
    empty = dest.is_dir() and not any(dest.iterdir())
    if dest.is_dir() and not empty and not force:
        raise UserError(
            f"output folder {shown} exists; choose another {option} or add --force to replace "
            "an earlier output"
        )
    if dest.is_dir() and not empty:
        check_replaceable(shown, kind, option)
    tmp = _temp_name(dest / "contents" if empty else dest, "partial")
    try:
        if not empty:
            dest.parent.mkdir(parents=True, exist_ok=True)
        tmp.mkdir()
    except OSError as e:
        _ACTIVE.discard(tmp.name)
        where = Path(e.filename) if e.filename else dest
        raise write_error(where, e, f"choose another {option}") from None
    moved: list[Path] = []
    try:
        yield tmp
        for folder in [tmp, *(p for p in tmp.rglob("*") if p.is_dir())]:
            os.chmod(folder, 0o777 & ~_umask())
        if empty:
            for entry in sorted(tmp.iterdir()):
                os.replace(entry, dest / entry.name)
                moved.append(dest / entry.name)
            tmp.rmdir()
        elif dest.exists():
            old = _temp_name(dest, "old")
            os.replace(dest, old)
            try:
                os.replace(tmp, dest)
            except BaseException:
                os.replace(old, dest)
                raise
            finally:
                _ACTIVE.discard(old.name)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, dest)
    except BaseException as e:
        shutil.rmtree(tmp, ignore_errors=True)
        for path in moved:  # an empty folder stays empty
            with contextlib.suppress(OSError):
                shutil.rmtree(path) if path.is_dir() else path.unlink()
        if isinstance(e, OSError):
            raise write_error(Path(e.filename) if e.filename else dest, e) from None
        raise
    finally:
        _ACTIVE.discard(tmp.name)


@contextlib.contextmanager
def folder_lock(
    folder: Path, *, wait: bool, busy: str = "", log: Callable[[str], None] | None = None
) -> Iterator[None]:
    """Hold an exclusive lock on ``folder`` (flock on the folder itself: no lock file is left)
    while the block runs. ``wait``: wait for the holder (saying ``busy`` through ``log``);
    otherwise a :class:`UserError` with ``busy`` as its message."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if not wait:
                raise UserError(busy) from None
            if log:
                log(busy)
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


# ---------------------------------------------------------------------------------------------
# Manifests


def write_manifest(folder: Path, content: dict[str, Any]) -> dict[str, Any]:
    """Write ``manifest.json``: ``content`` plus bnntool's version, the time, and the sha256 of
    every other file in the folder (by path relative to it)."""
    files = {
        str(p.relative_to(folder)): sha256_file(p)
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name != MANIFEST
    }
    manifest = {
        "bnntool_version": __version__,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        **content,
        "files": files,
    }
    write_json(folder / MANIFEST, manifest)
    return manifest


def read_manifest(folder: Path, *, quiet: bool = False) -> dict[str, Any] | None:
    """A folder's manifest, or None if it has none (e.g. Xilinx's own parameter folders).
    An unreadable one is an error, or None with ``quiet``."""
    path = Path(folder) / MANIFEST
    if not path.is_file():
        return None
    try:
        manifest = json.loads(path.read_text())
        if not isinstance(manifest, dict):
            raise ValueError("not a JSON object")
        return manifest
    except (OSError, ValueError) as e:
        if quiet:
            return None
        raise UserError(f"{path} is not a readable manifest ({e})") from None


def changed_files(folder: Path, manifest: dict[str, Any] | None) -> list[str]:
    """The files of ``folder`` whose sha256 differs from its manifest's (missing ones too)."""
    changed = []
    for name, digest in (manifest or {}).get("files", {}).items():
        path = Path(folder) / name
        if not path.is_file() or sha256_file(path) != digest:
            changed.append(name)
    return changed
