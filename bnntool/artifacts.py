"""Artefact folders: written whole or not at all, each with a manifest.json of what made it."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from bnntool import __version__
from bnntool.errors import UserError

MANIFEST = "manifest.json"


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


@contextlib.contextmanager
def output_folder(dest: Path, *, force: bool, option: str = "--out") -> Iterator[Path]:
    """Yield a fresh temporary folder beside ``dest``; when the block succeeds, it becomes
    ``dest`` (replacing an existing one only with ``force``). On any error nothing is left."""
    dest = Path(dest)
    if dest.exists() and not force:
        raise UserError(f"output folder {dest} exists; choose another {option} or add --force")
    if dest.exists() and not dest.is_dir():
        raise UserError(f"{option} {dest} is a file, not a folder")
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=".partial", dir=dest.parent))
    except OSError as e:
        raise UserError(
            f"cannot write {dest}: {e.strerror or e}; choose another {option}"
        ) from None
    try:
        yield tmp
        if dest.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=".old", dir=dest.parent))
            os.replace(dest, old / dest.name)
            os.replace(tmp, dest)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


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
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def read_manifest(folder: Path) -> dict[str, Any] | None:
    """A folder's manifest, or None if it has none (e.g. Xilinx's own parameter folders)."""
    path = Path(folder) / MANIFEST
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise UserError(f"{path} is not a readable manifest ({e})") from None
